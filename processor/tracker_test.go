package processor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// scriptedSubmits answers Submit from a script: answer(n) is the error of the n-th call (1 is
// the worker's submit), nil accepts. Placement never starts until a submit after the first is
// accepted; then the cart is placed.
type scriptedSubmits struct {
	*fakeProvider
	answer func(n int) error

	mu     sync.Mutex
	calls  []time.Time // the fake clock at each Submit call
	placed bool
}

func (p *scriptedSubmits) Submit(ctx context.Context, r provider.SubmitRequest) (provider.Submission, error) {
	p.mu.Lock()
	p.calls = append(p.calls, p.fakeProvider.now())
	n := len(p.calls)
	p.mu.Unlock()
	if err := p.answer(n); err != nil {
		return provider.Submission{}, err
	}
	s, err := p.fakeProvider.Submit(ctx, r)
	p.mu.Lock()
	p.placed = p.placed || n > 1
	p.mu.Unlock()
	return s, err
}

func (p *scriptedSubmits) placement(time.Duration) (provider.Placement, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.placed {
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Status: "SUCCEEDED", Events: placedEvents()}), nil
	}
	return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1"}), nil // no events: never started
}

func (p *scriptedSubmits) callTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// newScriptedHarness is a harness whose provider answers submits from answer.
func newScriptedHarness(t *testing.T, answer func(n int) error, tune func(*Config)) (*harness, *scriptedSubmits) {
	var sp *scriptedSubmits
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) { return sp.placement(e) }, tune)
	sp = &scriptedSubmits{fakeProvider: h.prov, answer: answer}
	h.cfg.Providers["rye"] = sp
	return h, sp
}

var (
	// Refusals with certainty: the provider says nothing happened.
	upstreamRetryable = &provider.Error{Class: provider.ClassRetryable, Op: "submitCart", Code: "UPSTREAM_SERVICE_ERROR",
		Message: "upstream unavailable", Retryable: provider.Bool(true), HTTPStatus: 200}
	rateLimited = &provider.Error{Class: provider.ClassRateLimited, Op: "submitCart", Code: "RATE_LIMITED", HTTPStatus: 429,
		RetryAfter: 3 * time.Second}
	// An answer that does not say whether the cart went through.
	unavailable503 = &provider.Error{Class: provider.ClassOutcomeUnknown, Op: "submitCart", Code: "HTTP_503", HTTPStatus: 503}
)

// A never-started cart whose resubmits the provider refuses with certainty (retryable, rate
// limited) is resubmitted with backoff, by the tracker, until the provider accepts: the
// refusals are no resubmits against MaxResubmits, go to no person and to no retry tier, and
// the waits between them grow from PollInterval up to NeverStartedAfter (at least the
// provider's RetryAfter). 429s never count; retryable refusals are bounded by the failure
// policy's MaxRetries like any refused submit (here raised to 20; the default 3 is
// TestRefusedResubmitBeyondMaxRetries).
func TestRefusedResubmitRetriesUntilAccepted(t *testing.T) {
	for _, refusal := range []*provider.Error{upstreamRetryable, rateLimited} {
		t.Run(refusal.Class.String(), func(t *testing.T) {
			const refusals = 12
			h, sp := newScriptedHarness(t, func(n int) error {
				if n >= 2 && n < 2+refusals {
					return refusal
				}
				return nil
			}, func(c *Config) { c.Policy = DefaultPolicy(); c.Policy.MaxRetries = 20 })
			h.run(testRequest("refused-"+refusal.Class.String()), 24*time.Hour)

			want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1//resubmitted", "1/amazon/placed", "1//placed"}
			if got := h.states(); !slices.Equal(got, want) {
				t.Fatalf("statuses\n got %v\nwant %v", got, want)
			}
			if len(h.failures) != 0 || len(h.dead) != 0 || len(h.prov.carts) != 1 {
				t.Fatalf("%d failures, %d dead letters, %d carts: want the tracker alone to retry the same cart", len(h.failures), len(h.dead), len(h.prov.carts))
			}
			calls := sp.callTimes()
			if len(calls) != refusals+2 {
				t.Fatalf("%d submit calls, want the worker's, %d refused resubmits and the accepted one", len(calls), refusals)
			}
			var gaps []time.Duration
			for i := 2; i < len(calls); i++ {
				gaps = append(gaps, calls[i].Sub(calls[i-1]))
			}
			lo := max(h.cfg.PollInterval, refusal.RetryAfter) * 8 / 10
			hi := h.cfg.NeverStartedAfter*12/10 + h.cfg.PollInterval
			for i, g := range gaps {
				if g < lo || g > hi {
					t.Errorf("wait %d between refused resubmits %v: want within [%v, %v]", i, g, lo, hi)
				}
			}
			if gaps[len(gaps)-1] <= gaps[0] {
				t.Errorf("waits between refused resubmits %v: want them to grow", gaps)
			}
			// The order's history keeps one entry per distinct answer, not one per refusal.
			if hist, err := h.cfg.history(context.Background(), "refused-"+refusal.Class.String()); err != nil || len(hist) != 1 {
				t.Errorf("history %+v (%v): want the repeated refusal stored once", hist, err)
			}
		})
	}
}

// Retryable refusals of a resubmit beyond the failure policy's MaxRetries go to the retry path
// (reconciler, delay tiers, the worker resubmitting the same cart), as a refused submit in the
// worker does: the cart is still placed once the provider accepts, nothing goes to a person,
// and a refusal that never goes away ends as a dead letter (the next test), not in a loop
// until the deadline.
func TestRefusedResubmitBeyondMaxRetries(t *testing.T) {
	h, _ := newScriptedHarness(t, func(n int) error {
		if n >= 2 && n < 2+12 {
			return upstreamRetryable
		}
		return nil
	}, nil)
	h.run(testRequest("refused-long"), 24*time.Hour)
	got := h.states()
	if len(got) == 0 || got[len(got)-1] != "1//placed" || slices.Contains(got, "1//needs_attention") {
		t.Fatalf("statuses %v: want the cart placed in the end, never needs_attention", got)
	}
	if len(h.dead) != 0 || len(h.prov.carts) != 1 || !slices.Contains(got, "1//retry_scheduled") {
		t.Fatalf("%d dead letters, %d carts, statuses %v: want the retry path and the same cart", len(h.dead), len(h.prov.carts), got)
	}
}

// Refusals that never go away end: through the retry path, whose policy dead-letters them
// (attempts-exhausted, or deadline-passed when the deadline comes first). Never
// needs_attention, never a replacement cart.
func TestRefusedResubmitUntilDeadline(t *testing.T) {
	h, sp := newScriptedHarness(t, func(n int) error {
		if n >= 2 {
			return upstreamRetryable
		}
		return nil
	}, nil)
	req := testRequest("refused-forever")
	req.Deadline = h.clock.Add(2 * time.Minute)
	h.run(req, 24*time.Hour)

	got := h.states()
	if len(got) == 0 || got[len(got)-1] != "1/amazon/dead_lettered" || slices.Contains(got, "1//needs_attention") {
		t.Fatalf("statuses %v: want a dead letter, never needs_attention", got)
	}
	if len(h.dead) != 1 || (h.dead[0].Action != ActionDeadlinePassed && h.dead[0].Action != ActionAttemptsExhausted) {
		t.Fatalf("dead letters %+v: want one, %s or %s", h.dead, ActionAttemptsExhausted, ActionDeadlinePassed)
	}
	if calls := sp.callTimes(); len(calls) < 1+h.cfg.Policy.MaxRetries {
		t.Errorf("%d submit calls: want the refused cart retried up to the policy's retries", len(calls))
	}
	if len(h.prov.carts) != 1 {
		t.Errorf("%d carts: want no replacement", len(h.prov.carts))
	}
}

// Resubmits whose answer leaves the outcome unknown (a 503) count against MaxResubmits: after
// that many a cart that still never started needs a person. Each resubmit has its own status
// event id, so a consumer that dedupes on ids sees every one.
func TestUnknownResubmitsBoundedByMaxResubmits(t *testing.T) {
	for _, limit := range []int{0, 4} { // 0: the default
		h, sp := newScriptedHarness(t, func(n int) error {
			if n >= 2 {
				return unavailable503
			}
			return nil
		}, func(c *Config) { c.MaxResubmits = limit })
		h.run(testRequest("unknown"), 24*time.Hour)

		n := h.cfg.MaxResubmits
		if limit == 0 && n != 2 {
			t.Fatalf("default MaxResubmits %d, want 2", n)
		}
		want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted"}
		for range n {
			want = append(want, "1//resubmitted")
		}
		want = append(want, "1/amazon/failed", "1/amazon/needs_attention")
		if got := h.states(); !slices.Equal(got, want) {
			t.Fatalf("MaxResubmits %d: statuses\n got %v\nwant %v", n, got, want)
		}
		if got := len(sp.callTimes()); got != n+1 {
			t.Errorf("MaxResubmits %d: %d submit calls, want %d", n, got, n+1)
		}
		ids := map[string]bool{}
		for _, st := range h.byState(StatusResubmitted) {
			if ids[st.EventID] {
				t.Errorf("MaxResubmits %d: two resubmitted events share the id %s", n, st.EventID)
			}
			ids[st.EventID] = true
		}
		attention := h.byState(StatusNeedsAttention)
		if len(attention) != 1 || attention[0].Action != "contact-provider" {
			t.Errorf("MaxResubmits %d: needs_attention %+v: want contact-provider", n, attention)
		}
	}
}

// The deadline of an order is its own, else the policy's MaxAge after it was requested.
func TestPolicyDeadline(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	req := schemas.OrderRequested{RequestedAt: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
	if got, want := p.Deadline(req), req.RequestedAt.Add(p.MaxAge); !got.Equal(want) {
		t.Errorf("deadline %v, want %v (MaxAge after the request)", got, want)
	}
	req.Deadline = req.RequestedAt.Add(time.Hour)
	if got := p.Deadline(req); !got.Equal(req.Deadline) {
		t.Errorf("deadline %v, want the order's own %v", got, req.Deadline)
	}
}

// failOnce is the harness bus with one injected produce failure: the first tracking record
// sent once fail() turns true is refused, as by a broker outage or a crash right before the
// produce.
type failOnce struct {
	*harness
	fail   func() bool
	failed bool
}

func (f *failOnce) Send(ctx context.Context, msgs ...producer.Message) error {
	for _, m := range msgs {
		if _, ok := m.Value.(schemas.Tracking); ok && !f.failed && f.fail() {
			f.failed = true
			return errors.New("produce failed")
		}
	}
	return f.harness.Send(ctx, msgs...)
}

// drive is harness.run with redelivery: a record whose handler fails is handled again, first,
// as the engine retries it (and as Kafka redelivers an uncommitted record after a crash).
func (h *harness) drive(req schemas.OrderRequested, limit time.Duration) (redelivered int) {
	h.t.Helper()
	return h.loop(req, limit, true)
}

// A failure between a refused resubmit's state change and the production of the cart's next
// tracking record (a crash, a broker outage) is retried as the same record: the cart is back
// in submitted under the same chain, so it is resubmitted, not taken for a lost answer (which
// would count against MaxResubmits). With MaxResubmits 1 and one accepted resubmit needed, a
// miscount would end needs_attention.
func TestRefusedResubmitRetriedAfterProduceFailure(t *testing.T) {
	h, sp := newScriptedHarness(t, func(n int) error {
		if n >= 2 && n < 5 {
			return upstreamRetryable
		}
		return nil
	}, func(c *Config) { c.MaxResubmits = 1 })
	bus := &failOnce{harness: h, fail: func() bool { return len(sp.callTimes()) == 2 }} // right after the first refusal
	h.cfg.Events = bus
	if redelivered := h.drive(testRequest("refused-crash"), 24*time.Hour); redelivered != 1 || !bus.failed {
		t.Fatalf("%d redeliveries (injected failure: %v), want 1", redelivered, bus.failed)
	}
	want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1//resubmitted", "1/amazon/placed", "1//placed"}
	if got := h.states(); !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	if n := len(sp.callTimes()); n != 5 {
		t.Fatalf("%d submit calls, want the worker's, 3 refused resubmits and the accepted one", n)
	}
}
