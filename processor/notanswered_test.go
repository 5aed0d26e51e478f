package processor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/schemas"
)

// limiterRedis is the shared rate limiter's own Redis, apart from the store's, so a test can
// break the limiter alone: after the inner provider's call named breakAfter succeeds, every
// limiter command fails until repair.
type limiterRedis struct {
	mr         *miniredis.Miniredis
	breakAfter string
}

func (l *limiterRedis) repair() { l.mr.SetError("") }

// gate is the provider inside the limiter: it breaks the limiter's Redis after a chosen call.
type gate struct {
	provider.Provider
	l *limiterRedis
}

func (g gate) after(op string) {
	if g.l.breakAfter == op {
		g.l.mr.SetError("LOADING Redis is loading the dataset in memory")
	}
}

func (g gate) CreateCart(ctx context.Context, r provider.CartRequest) (provider.Cart, error) {
	c, err := g.Provider.CreateCart(ctx, r)
	g.after("create")
	return c, err
}

func (g gate) Status(ctx context.Context, id string) (provider.Placement, error) {
	pl, err := g.Provider.Status(ctx, id)
	g.after("status")
	return pl, err
}

// newLimitedHarness is the harness with the provider behind the shared rate limiter, as the
// service wires it.
func newLimitedHarness(t *testing.T, placement func(time.Duration) (provider.Placement, error)) (*harness, *limiterRedis) {
	t.Helper()
	l := &limiterRedis{mr: miniredis.RunT(t)}
	rdb := redis.NewClient(&redis.Options{Addr: l.mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	h := newHarness(t, placement, func(c *Config) {
		c.Providers["rye"] = ratelimit.Provider(gate{Provider: c.Providers["rye"], l: l}, ratelimit.New(rdb, "rl"), ratelimit.Limits{Submit: 1000, Other: 1000})
	})
	return h, l
}

// deliver hands the queued message m to its role, as the engine would, and returns the
// handler's error.
func deliver(h *harness, m producer.Message) error {
	b, err := h.cfg.Codec.Encode(m.Topic, m.Value)
	if err != nil {
		h.t.Fatal(err)
	}
	r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: b}
	switch m.Topic {
	case h.cfg.Topology.Tracking():
		return h.tracker.Handle(context.Background(), r)
	case h.cfg.Topology.Failures():
		return h.reconciler.Handle(context.Background(), r)
	}
	return h.worker.Handle(context.Background(), r)
}

// wantNothingRecorded checks that a limiter failure left no trace of a provider answer: no
// history entry, no failure event, no failed status.
func wantNothingRecorded(t *testing.T, h *harness, err error, orderID string) {
	t.Helper()
	if !errors.Is(err, provider.ErrNotCalled) {
		t.Errorf("handler returned %v, want an error wrapping provider.ErrNotCalled (retry the record)", err)
	}
	hist, herr := h.cfg.Store.History(context.Background(), orderID)
	if herr != nil {
		t.Fatal(herr)
	}
	if len(hist) != 0 {
		t.Errorf("the order's history holds %d entries, want none: %q", len(hist), hist)
	}
	if len(h.failures) != 0 {
		t.Errorf("failure events %+v, want none", h.failures)
	}
	if got := h.byState(StatusFailed); len(got) != 0 {
		t.Errorf("failed status events %+v, want none", got)
	}
}

// A Redis error inside the shared rate limiter before submitCart is no provider answer: the
// worker records nothing, hands nothing to the reconciler, submits nothing, steps the attempt
// back to cart_created and fails the record, whose retry submits once the limiter answers.
func TestLimiterFailureBeforeSubmitIsNotRecorded(t *testing.T) {
	h, l := newLimitedHarness(t, func(time.Duration) (provider.Placement, error) {
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: placedEvents()}), nil
	})
	l.breakAfter = "create"
	req := testRequest("rl-submit")
	m := producer.Message{Topic: h.cfg.Topology.Requests(), Key: req.OrderID, Value: req}
	err := deliver(h, m)
	wantNothingRecorded(t, h, err, req.OrderID)
	if n := len(h.prov.submits); n != 0 {
		t.Fatalf("%d submits reached the provider, want none", n)
	}
	rec, _ := h.cfg.Store.Get(context.Background(), req.OrderID, 1)
	if rec.State != idempotency.StateCartCreated {
		t.Fatalf("attempt in state %q after the limiter failed, want cart_created (never sent, so resubmittable)", rec.State)
	}

	l.repair()
	if err := deliver(h, m); err != nil {
		t.Fatalf("retry after the limiter came back: %v", err)
	}
	if n := len(h.prov.submits); n != 1 {
		t.Fatalf("%d submits after the retry, want 1", n)
	}
	if got := h.byState(StatusOutcomeUnknown); len(got) != 0 {
		t.Errorf("outcome_unknown after a call that was never made: %+v", got)
	}
	if got := h.byState(StatusSubmitted); len(got) == 0 {
		t.Errorf("no submitted event after the retry; states %v", h.states())
	}
	// The cart_created status BeginSubmitCart held went out when the attempt stepped back.
	if got := h.byState(StatusCartCreated); len(got) != 1 {
		t.Errorf("%d cart_created events, want 1; states %v", len(got), h.states())
	}
}

// The same in the tracker: a limiter failure on a status poll fails the record instead of
// counting towards unreadable placement, and one before a never-started resubmit leaves the
// attempt submitted under its chain instead of handing a "retryable" failure to the reconciler.
func TestLimiterFailureInTrackerIsNotRecorded(t *testing.T) {
	h, l := newLimitedHarness(t, func(time.Duration) (provider.Placement, error) {
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1"}), nil // never starts
	})
	req := testRequest("rl-track")
	if err := deliver(h, producer.Message{Topic: h.cfg.Topology.Requests(), Key: req.OrderID, Value: req}); err != nil {
		t.Fatal(err)
	}
	if len(h.tracking) != 1 || len(h.queue) != 1 {
		t.Fatalf("tracking %d, queue %d after the submit, want one tracking record", len(h.tracking), len(h.queue))
	}
	first := h.queue[0]
	h.queue = nil
	tr := first.Value.(schemas.Tracking)

	t.Run("status poll", func(t *testing.T) {
		h.clock = first.Due
		l.mr.SetError("LOADING Redis is loading the dataset in memory")
		err := deliver(h, first)
		wantNothingRecorded(t, h, err, req.OrderID)
		if len(h.queue) != 0 {
			t.Errorf("the failed poll produced %d records (a reschedule), want none: the record is retried", len(h.queue))
		}
		l.repair()
	})

	t.Run("never-started resubmit", func(t *testing.T) {
		h.clock = tr.SubmittedAt.Add(h.cfg.NeverStartedAfter + time.Second)
		l.breakAfter = "status" // the poll passes the limiter, the resubmit does not
		err := deliver(h, first)
		wantNothingRecorded(t, h, err, req.OrderID)
		rec, _ := h.cfg.Store.Get(context.Background(), req.OrderID, 1)
		if rec.State != idempotency.StateSubmitted || rec.Chain != tr.Chain {
			t.Fatalf("attempt %q chain %d after the limiter failed, want submitted under chain %d", rec.State, rec.Chain, tr.Chain)
		}
		if n := len(h.prov.submits); n != 1 {
			t.Fatalf("%d submits, want only the first", n)
		}

		l.breakAfter = ""
		l.repair()
		if err := deliver(h, first); err != nil {
			t.Fatalf("retry after the limiter came back: %v", err)
		}
		if n := len(h.prov.submits); n != 2 {
			t.Fatalf("%d submits after the retry, want 2 (the resubmit)", n)
		}
		if got := h.byState(StatusResubmitted); len(got) != 1 {
			t.Errorf("resubmitted events %+v, want one; states %v", got, h.states())
		}
	})
}
