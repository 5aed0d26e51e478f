package dlq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/dlq"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

func ExampleParsePatch() {
	p, err := dlq.ParsePatch([]string{"payment_ref=tok_visa", "buyer.postal=94105", "item.0.quantity=1"})
	if err != nil {
		panic(err)
	}
	req := schemas.OrderRequested{OrderID: "o-1", PaymentRef: "tok_declined",
		Buyer: schemas.Buyer{PostalCode: "00000", CountryCode: "US"},
		Items: []schemas.Item{{Merchant: "amazon", ProductID: "B01", Quantity: 3}}}
	if err := p.Apply(&req); err != nil {
		panic(err)
	}
	fmt.Println(p.Fields(), dlq.RedactPaymentRef(req.PaymentRef), req.Buyer.PostalCode, req.Items[0].Quantity)
	// Output: [item.0.quantity payment_ref postal_code] tok_… 94105 1
}

func TestPatchRejectsWhatTheWorkerWould(t *testing.T) {
	for _, tc := range []struct {
		settings []string
		wantErr  string
	}{
		{[]string{"nonsense=1"}, "unknown field"},
		{[]string{"no-equals"}, "want field=value"},
		{[]string{"item.0.quantity=x"}, "quantity"},
		{[]string{"deadline=tomorrow"}, "deadline"},
		{[]string{"item.0.quantity=0"}, "positive quantity"},
		{[]string{"country="}, "country code"},
		{[]string{"items=[]"}, "no items"},
		{[]string{"item.5.product_id=X"}, "has 1 items"},
	} {
		t.Run(strings.Join(tc.settings, ","), func(t *testing.T) {
			p, err := dlq.ParsePatch(tc.settings)
			if err == nil {
				req := schemas.OrderRequested{Buyer: schemas.Buyer{CountryCode: "US"}, Items: []schemas.Item{{ProductID: "B", Quantity: 1}}}
				err = p.Apply(&req)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	yes, no := true, false
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entries := []dlq.Entry{
		{DeadLetter: schemas.DeadLetter{DeadLetterID: "abc111", OrderID: "o1", Code: "PAYMENT_FAILED", Action: "new-payment-method", Provider: "rye", Retryable: &no, At: at}},
		{DeadLetter: schemas.DeadLetter{DeadLetterID: "abc222", OrderID: "o2", Code: "conflict/failed-request", Action: "new-checkout", Provider: "digitalriver", Retryable: &no, At: at.Add(time.Hour)}},
		{DeadLetter: schemas.DeadLetter{DeadLetterID: "def333", OrderID: "o3", Action: "investigate", Provider: "rye", At: at.Add(2 * time.Hour)}},
		{DeadLetter: schemas.DeadLetter{DeadLetterID: "def444", OrderID: "o4", Action: "investigate", Provider: "rye", Retryable: &yes, At: at.Add(3 * time.Hour)}},
	}
	ids := func(es []dlq.Entry) string {
		var s []string
		for _, e := range es {
			s = append(s, e.OrderID)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name string
		f    dlq.Filter
		want string
	}{
		{"everything", dlq.Filter{}, "o1,o2,o3,o4"},
		{"time range", dlq.Filter{Since: at.Add(time.Hour), Until: at.Add(3 * time.Hour)}, "o2,o3"},
		{"code", dlq.Filter{Codes: []string{"PAYMENT_FAILED"}}, "o1"},
		{"action", dlq.Filter{Actions: []string{"investigate", "new-checkout"}}, "o2,o3,o4"},
		{"provider", dlq.Filter{Providers: []string{"digitalriver"}}, "o2"},
		{"order", dlq.Filter{OrderIDs: []string{"o3"}}, "o3"},
		{"retryable unknown", dlq.Filter{Retryable: "unknown"}, "o3"},
		{"retryable false", dlq.Filter{Retryable: "false"}, "o1,o2"},
		{"retryable true", dlq.Filter{Retryable: "true"}, "o4"},
		{"id prefix", dlq.Filter{IDs: []string{"abc2"}}, "o2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dlq.Select(entries, tc.f)
			if err != nil || ids(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", ids(got), err, tc.want)
			}
		})
	}
	if _, err := dlq.Select(entries, dlq.Filter{IDs: []string{"abc"}}); !errors.Is(err, dlq.ErrAmbiguous) {
		t.Fatalf("an ambiguous prefix: %v, want ErrAmbiguous", err)
	}
	if _, err := dlq.Select(entries, dlq.Filter{Retryable: "maybe"}); err == nil {
		t.Fatal("retryable=maybe was accepted")
	}
}

func TestRedactPaymentRef(t *testing.T) {
	for in, want := range map[string]string{"tok_visa": "tok_…", "src_declined": "src_…", "pm_123": "pm_…", "4111111111111111": "…", "": "", "_x": "…"} {
		if got := dlq.RedactPaymentRef(in); got != want {
			t.Errorf("RedactPaymentRef(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeProvider answers Status from a table; it is also a CheckoutFixer when fixer is set.
type fakeProvider struct {
	mu     sync.Mutex
	status map[string]provider.Placement
}

func (f *fakeProvider) Name() string { return "rye" }
func (f *fakeProvider) CreateCart(context.Context, provider.CartRequest) (provider.Cart, error) {
	return provider.Cart{}, errors.New("not used")
}
func (f *fakeProvider) Submit(context.Context, provider.SubmitRequest) (provider.Submission, error) {
	return provider.Submission{}, errors.New("not used")
}
func (f *fakeProvider) Status(_ context.Context, cartID string) (provider.Placement, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pl, ok := f.status[cartID]
	if !ok {
		return provider.Placement{}, &provider.Error{Class: provider.ClassNotRetryable, Code: "CART_NOT_FOUND"}
	}
	return pl, nil
}

type fixer struct{ fakeProvider }

func (f *fixer) UpdateCheckout(context.Context, string, provider.CheckoutPatch) error { return nil }
func (f *fixer) AttachSource(context.Context, string, string) error                   { return nil }

type capture struct {
	mu   sync.Mutex
	msgs []producer.Message
}

func (c *capture) Send(_ context.Context, msgs ...producer.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, msgs...)
	return nil
}

func placedOutcome(t *testing.T, merchants ...string) []byte {
	t.Helper()
	var st []schemas.OrderStatus
	for _, m := range merchants {
		st = append(st, schemas.OrderStatus{State: string(processor.StatusPlaced), Merchant: m, Terminal: true})
	}
	b, err := json.Marshal(struct{ Status []schemas.OrderStatus }{st})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInspectLabels drives the store into each situation a dead letter's order can be in.
func TestInspectLabels(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store, err := idempotency.New(rdb, idempotency.Config{Prefix: "inspect"})
	if err != nil {
		t.Fatal(err)
	}
	prov := &fakeProvider{status: map[string]provider.Placement{
		"cart-placed":  {Orders: []provider.OrderPlacement{{Merchant: "amazon", Events: []provider.Event{{Type: provider.EventPlaced}}}}},
		"cart-started": {Orders: []provider.OrderPlacement{{Merchant: "amazon", Events: []provider.Event{{Type: provider.EventSubmissionStarted}}}}},
	}}
	sent := &capture{}
	noOrder := provider.Placement{Orders: []provider.OrderPlacement{{Merchant: digitalriver.Name}}}
	dr := &fixer{fakeProvider{status: map[string]provider.Placement{
		"c1": noOrder, "cart-o-plain-1": noOrder, "dr-free": noOrder,
		"dr-busy":   {Orders: []provider.OrderPlacement{{Merchant: digitalriver.Name, OrderID: "ord-busy", Status: "in_review", Events: []provider.Event{{Type: provider.EventSubmissionStarted}}}}},
		"dr-placed": {Orders: []provider.OrderPlacement{{Merchant: digitalriver.Name, OrderID: "ord-ok", Status: "accepted", Events: []provider.Event{{Type: provider.EventPlaced}}}}},
		"dr-failed": {Orders: []provider.OrderPlacement{{Merchant: digitalriver.Name, OrderID: "ord-bad", Status: "blocked", Events: []provider.Event{{Type: provider.EventFailed}}}}},
	}}}
	tool, err := dlq.New(dlq.Config{Store: store, Topology: topology.Default(), Providers: map[string]provider.Provider{"rye": prov, "digitalriver": dr},
		Descriptors: providers.All(), Sender: sent, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// attempt moves an order attempt to a state; outcome is stored with a terminal state.
	attempt := func(order string, n int, to idempotency.State, cart string, outcome processor.Status, data []byte) {
		t.Helper()
		rec, err := store.Acquire(ctx, order, n, "fp", "test")
		if err != nil {
			t.Fatal(err)
		}
		if to == idempotency.StateReserved {
			return
		}
		if rec, err = store.Transition(ctx, rec, idempotency.StateCartCreated, idempotency.Change{CartID: cart}, idempotency.StateReserved); err != nil {
			t.Fatal(err)
		}
		if to == idempotency.StateCartCreated {
			return
		}
		if rec, err = store.Transition(ctx, rec, idempotency.StateSubmitting, idempotency.Change{}, idempotency.StateCartCreated); err != nil {
			t.Fatal(err)
		}
		if to == idempotency.StateSubmitting {
			return
		}
		if rec, err = store.Transition(ctx, rec, idempotency.StateSubmitted, idempotency.Change{}, idempotency.StateSubmitting); err != nil {
			t.Fatal(err)
		}
		if to == idempotency.StateTerminal {
			if _, err := store.Transition(ctx, rec, idempotency.StateTerminal, idempotency.Change{Outcome: string(outcome), OutcomeData: data}, idempotency.StateSubmitted); err != nil {
				t.Fatal(err)
			}
		}
	}
	two := []schemas.Item{{Merchant: "amazon", ProductID: "A", Quantity: 1}, {Merchant: "shop-b", ProductID: "B", Quantity: 1}}
	dead := func(order string, n int, action string, items []schemas.Item) schemas.DeadLetter {
		req := schemas.OrderRequested{OrderID: order, Attempt: n, Provider: "rye", Items: items, PaymentRef: "tok_declined",
			Buyer: schemas.Buyer{CountryCode: "US"}}
		return schemas.DeadLetter{DeadLetterID: fmt.Sprintf("dl-%s-%d", order, n), OrderID: order, Attempt: n, Provider: "rye",
			Action: action, Request: &req, CartID: fmt.Sprintf("cart-%s-%d", order, n)}
	}

	// o-placed: attempt 1 failed, a replacement (attempt 2) placed it.
	attempt("o-placed", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)
	n, _ := store.AllocateAttempt(ctx, "o-placed", "failure-1", 1)
	attempt("o-placed", n, idempotency.StateTerminal, "c2", processor.StatusPlaced, placedOutcome(t, "amazon"))
	// o-partial: a two-merchant cart; a later attempt placed amazon only.
	attempt("o-partial", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)
	n, _ = store.AllocateAttempt(ctx, "o-partial", "failure-1", 1)
	attempt("o-partial", n, idempotency.StateTerminal, "c2", processor.StatusFailed, placedOutcome(t, "amazon"))
	// o-stuck: needs attention, the provider shows only SubmissionStarted; o-stuck-placed: it placed after all.
	attempt("o-stuck", 1, idempotency.StateTerminal, "cart-started", processor.StatusNeedsAttention, nil)
	attempt("o-stuck-placed", 1, idempotency.StateTerminal, "cart-placed", processor.StatusNeedsAttention, nil)
	// o-flight: a replacement was allocated and its request is on its way.
	attempt("o-flight", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)
	_, _ = store.AllocateAttempt(ctx, "o-flight", "failure-1", 1)
	// o-progress: a replacement reserved its attempt; o-submitted: one was submitted, no provider answer known.
	attempt("o-progress", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)
	n, _ = store.AllocateAttempt(ctx, "o-progress", "failure-1", 1)
	attempt("o-progress", n, idempotency.StateReserved, "", "", nil)
	attempt("o-submitted", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)
	n, _ = store.AllocateAttempt(ctx, "o-submitted", "failure-1", 1)
	attempt("o-submitted", n, idempotency.StateSubmitted, "cart-unknown", "", nil)
	// o-plain: attempt 1 failed, nothing else.
	attempt("o-plain", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)

	capped := dead("o-plain", 1, "new-payment-method", two[:1])
	capped.ReplayCount = 3
	drFix := dead("o-plain", 1, "fix-checkout", two[:1])
	drFix.Provider, drFix.Request.Provider = digitalriver.Name, digitalriver.Name
	drOne := []schemas.Item{{Merchant: digitalriver.Name, ProductID: "SKU1", Quantity: 1}}
	drDead := func(order, action, cart string) schemas.DeadLetter {
		attempt(order, 1, idempotency.StateTerminal, cart, processor.StatusFailed, nil)
		d := dead(order, 1, action, drOne)
		d.Provider, d.Request.Provider, d.CartID = digitalriver.Name, digitalriver.Name, cart
		return d
	}
	drConsumed := drDead("o-dr-busy", "new-checkout", "dr-busy")
	drPlaced := drDead("o-dr-placed", "fix-checkout", "dr-placed")
	drFailedOrder := drDead("o-dr-failed", "new-checkout", "dr-failed")
	drFree := drDead("o-dr-free", "new-checkout", "dr-free")
	drLost := drDead("o-dr-lost", "new-checkout", "dr-unknown")
	rawRecord := schemas.DeadLetter{DeadLetterID: "raw/orders.requests/0/1", Action: processor.ActionFixRecord, RawValue: []byte{1}}
	older, newer := dead("o-two", 1, "new-payment-method", two[:1]), dead("o-two", 2, "new-payment-method", two[:1])
	all := []dlq.Entry{{DeadLetter: older}, {DeadLetter: newer}}

	for _, tc := range []struct {
		name      string
		d         schemas.DeadLetter
		want      dlq.Label
		items     int
		reuseCart string
		detail    string
	}{
		{"placed by a replacement", dead("o-placed", 1, "new-payment-method", two[:1]), dlq.LabelAlreadyPlaced, 0, "", "amazon by attempt 2"},
		{"partially placed: only the rest", dead("o-partial", 1, "new-address", two), dlq.LabelWillSubmit, 1, "", "amazon by attempt 2"},
		{"stuck and still started", dead("o-stuck", 1, "contact-provider", two[:1]), dlq.LabelOutcomeUnknown, 1, "", "started"},
		{"stuck but the provider placed it", dead("o-stuck-placed", 1, "contact-provider", two[:1]), dlq.LabelAlreadyPlaced, 0, "", ""},
		{"a request on its way", dead("o-flight", 1, "new-payment-method", two[:1]), dlq.LabelOutcomeUnknown, 1, "", "not picked up"},
		{"an attempt in progress", dead("o-progress", 1, "new-payment-method", two[:1]), dlq.LabelOutcomeUnknown, 1, "", "in progress"},
		{"a submitted cart the provider does not know", dead("o-submitted", 1, "new-payment-method", two[:1]), dlq.LabelOutcomeUnknown, 1, "", "CART_NOT_FOUND"},
		{"nothing since", dead("o-plain", 1, "new-payment-method", two[:1]), dlq.LabelWillSubmit, 1, "", "new cart"},
		{"cap", capped, dlq.LabelCapReached, 1, "", "cap 3"},
		{"digital river fix-checkout", drFix, dlq.LabelWillSubmit, 1, drFix.CartID, "update checkout"},
		{"digital river: the dead letter's checkout became an order in progress", drConsumed, dlq.LabelCheckoutConsumed, 1, "", "became order ord-busy"},
		{"digital river: the dead letter's checkout became a placed order", drPlaced, dlq.LabelAlreadyPlaced, 0, "", "digitalriver by attempt 1"},
		{"digital river: its order failed, a new checkout", drFailedOrder, dlq.LabelWillSubmit, 1, "", "new cart"},
		{"digital river: no order, a new checkout", drFree, dlq.LabelWillSubmit, 1, "", "new cart"},
		{"digital river: the lookup failed, nothing decided", drLost, dlq.LabelOutcomeUnknown, 1, "", "asking the provider failed"},
		{"undecodable record", rawRecord, dlq.LabelNotReplayable, 0, "", "no decodable request"},
		{"superseded", older, dlq.LabelSuperseded, 1, "", "is newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tool.Inspect(ctx, all, tc.d, dlq.Options{ReplayID: "r1"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Label != tc.want || len(p.Items) != tc.items || p.ReuseCart != tc.reuseCart || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("label %s items %v reuse %q detail %q; want %s, %d items, reuse %q, detail with %q",
					p.Label, p.Items, p.ReuseCart, p.Detail, tc.want, tc.items, tc.reuseCart, tc.detail)
			}
		})
	}

	t.Run("digital river: patched items go to a new checkout", func(t *testing.T) {
		patch, _ := dlq.ParsePatch([]string{"item.0.quantity=1"})
		p, err := tool.Inspect(ctx, all, drFix, dlq.Options{ReplayID: "r1", Patch: patch})
		if err != nil || p.Label != dlq.LabelWillSubmit || p.ReuseCart != "" || !strings.Contains(p.Detail, "can not change") {
			t.Fatalf("plan %+v, %v: want will-submit on a new checkout", p, err)
		}
	})

	t.Run("replay publishes a new attempt and audits it; the same id again maps to it", func(t *testing.T) {
		d := dead("o-plain", 1, "new-payment-method", two[:1])
		d.TraceContext = map[string]string{"traceparent": "00-abc-def-01"}
		patch, _ := dlq.ParsePatch([]string{"payment_ref=tok_visa"})
		opts := dlq.Options{ReplayID: "r-unit", Patch: patch}
		for range 2 {
			res, err := tool.Replay(ctx, nil, []dlq.Entry{{DeadLetter: d}}, opts)
			if err != nil || len(res) != 1 || res[0].Result != dlq.ResultSubmitted || res[0].Published != 2 {
				t.Fatalf("replay: %+v, %v", res, err)
			}
		}
		var reqs []schemas.OrderRequested
		var audits []schemas.ReplayAudit
		for _, m := range sent.msgs {
			switch v := m.Value.(type) {
			case schemas.OrderRequested:
				reqs = append(reqs, v)
				if len(m.Headers) != 1 || m.Headers[0].Key != "traceparent" {
					t.Errorf("headers %v, want the trace context", m.Headers)
				}
			case schemas.ReplayAudit:
				audits = append(audits, v)
			}
		}
		if len(reqs) != 2 || reqs[0].Attempt != 2 || reqs[1].Attempt != 2 || reqs[0].PaymentRef != "tok_visa" ||
			reqs[0].ReplayID != "r-unit" || reqs[0].ReplayCount != 1 || reqs[0].ReplacesCartID != d.CartID {
			t.Fatalf("requests %+v", reqs)
		}
		if len(audits) != 2 || audits[0].AuditID != audits[1].AuditID || audits[0].Result != dlq.ResultSubmitted {
			t.Fatalf("audits %+v", audits)
		}
		var out bytes.Buffer
		if err := dlq.WriteResults(&out, []dlq.Result{{Plan: dlq.Plan{DeadLetter: d, Label: dlq.LabelWillSubmit}, Result: dlq.ResultSubmitted, Published: 2}}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "tok_") {
			t.Fatalf("results show a payment reference:\n%s", out.String())
		}
	})

	t.Run("two merchant orders of one cart replay in one run; the same merchant twice does not", func(t *testing.T) {
		attempt("o-split", 1, idempotency.StateTerminal, "c1", processor.StatusFailed, nil)
		a, b := dead("o-split", 1, "new-address", two[:1]), dead("o-split", 1, "new-address", two[1:])
		a.DeadLetterID, a.Merchant, a.FailedItems = "dl-split-a", "amazon", two[:1]
		b.DeadLetterID, b.Merchant, b.FailedItems = "dl-split-b", "shop-b", two[1:]
		entries := []dlq.Entry{{DeadLetter: a}, {DeadLetter: b}}
		res, err := tool.Replay(ctx, entries, entries, dlq.Options{ReplayID: "r-split"})
		if err != nil || len(res) != 2 || res[0].Published == 0 || res[1].Published == 0 || res[0].Published == res[1].Published {
			t.Fatalf("split replay: %+v, %v", res, err)
		}
		// Another replay id now sees both attempts on their way: refused, not a second cart.
		res, err = tool.Replay(ctx, entries, entries[:1], dlq.Options{ReplayID: "r-split-2"})
		if err != nil || res[0].Label != dlq.LabelOutcomeUnknown || res[0].Result != dlq.ResultRefused {
			t.Fatalf("second replay id: %+v, %v", res, err)
		}
	})

	t.Run("a dry run changes nothing", func(t *testing.T) {
		before := len(sent.msgs)
		d := dead("o-plain", 1, "new-payment-method", two[:1])
		res, err := tool.Replay(ctx, nil, []dlq.Entry{{DeadLetter: d}}, dlq.Options{ReplayID: "r-dry", DryRun: true})
		if err != nil || res[0].Result != dlq.ResultDryRun || len(sent.msgs) != before {
			t.Fatalf("dry run: %+v, %v, %d messages sent", res, err, len(sent.msgs)-before)
		}
		a, err := store.Allocations(ctx, "o-plain")
		if err != nil || a.ByReason["replay/r-dry/"+d.DeadLetterID] != 0 {
			t.Fatalf("a dry run allocated an attempt: %+v", a)
		}
	})

	t.Run("digital river: a consumed checkout is refused even with --force", func(t *testing.T) {
		before := len(sent.msgs)
		res, err := tool.Replay(ctx, nil, []dlq.Entry{{DeadLetter: drConsumed}}, dlq.Options{ReplayID: "r-consumed", Force: true})
		if err != nil || res[0].Label != dlq.LabelCheckoutConsumed || res[0].Result != dlq.ResultRefused || res[0].Published != 0 {
			t.Fatalf("forced replay of a consumed checkout: %+v, %v", res, err)
		}
		for _, m := range sent.msgs[before:] {
			if _, ok := m.Value.(schemas.OrderRequested); ok {
				t.Fatalf("a request was published: %+v", m.Value)
			}
		}
	})
}
