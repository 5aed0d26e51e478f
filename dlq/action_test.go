package dlq_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/dlq"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// A dead letter of a 3-D Secure challenge the customer did not complete in time: the customer
// may complete it after our deadline, so the tool asks the provider before replaying. Still
// waiting for the customer is an open outcome (refused), placed is a no-op, failed replays.
func TestInspectActionTimeoutProbesTheProvider(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	store, err := idempotency.New(rdb, idempotency.Config{Prefix: "action"})
	if err != nil {
		t.Fatal(err)
	}
	waiting := provider.OrderPlacement{Merchant: "amazon", Status: "ACTION_REQUIRED",
		Events:          []provider.Event{{Type: provider.EventSubmissionStarted}},
		RequiredActions: []provider.RequiredAction{{Kind: "CompletePaymentChallenge", RedirectURL: "https://pay.example/3ds", Action: provider.ActionCompletePaymentChallenge}}}
	prov := &fakeProvider{status: map[string]provider.Placement{
		"cart-waiting": {Orders: []provider.OrderPlacement{waiting}},
		"cart-placed":  {Orders: []provider.OrderPlacement{{Merchant: "amazon", Events: []provider.Event{{Type: provider.EventSubmissionStarted}, {Type: provider.EventPlaced}}}}},
		"cart-failed":  {Orders: []provider.OrderPlacement{{Merchant: "amazon", Events: []provider.Event{{Type: provider.EventFailed, ReasonCode: "PAYMENT_FAILED"}}}}},
	}}
	tool, err := dlq.New(dlq.Config{Store: store, Topology: topology.Default(), Providers: map[string]provider.Provider{"rye": prov}, Descriptors: providers.All(), Sender: &capture{}, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	items := []schemas.Item{{Merchant: "amazon", ProductID: "A", Quantity: 1}}
	// ended stores attempt 1 of order as the tracker ends it: terminal, failed, with its failures.
	ended := func(order, cart string, failures ...schemas.OrderFailure) schemas.DeadLetter {
		t.Helper()
		rec, err := store.Acquire(ctx, order, 1, "fp", "test")
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			to, from idempotency.State
			change   idempotency.Change
		}{
			{idempotency.StateCartCreated, idempotency.StateReserved, idempotency.Change{CartID: cart}},
			{idempotency.StateSubmitting, idempotency.StateCartCreated, idempotency.Change{}},
			{idempotency.StateSubmitted, idempotency.StateSubmitting, idempotency.Change{}},
		} {
			if rec, err = store.Transition(ctx, rec, step.to, step.change, step.from); err != nil {
				t.Fatal(err)
			}
		}
		data, _ := json.Marshal(struct{ Failures []schemas.OrderFailure }{failures})
		if _, err := store.Transition(ctx, rec, idempotency.StateTerminal, idempotency.Change{Outcome: string(processor.StatusFailed), OutcomeData: data}, idempotency.StateSubmitted); err != nil {
			t.Fatal(err)
		}
		req := schemas.OrderRequested{OrderID: order, Attempt: 1, Provider: "rye", Items: items, Buyer: schemas.Buyer{CountryCode: "US"}}
		return schemas.DeadLetter{DeadLetterID: "dl-" + order, OrderID: order, Attempt: 1, Provider: "rye", Merchant: "amazon",
			Phase: processor.PhasePlacement, Action: string(provider.ActionCompletePaymentChallenge), CartID: cart, Request: &req, FailedItems: items}
	}
	timeout := schemas.OrderFailure{Class: processor.ClassActionTimeout, Merchant: "amazon", Action: string(provider.ActionCompletePaymentChallenge)}
	declined := schemas.OrderFailure{Class: provider.ClassNotRetryable.String(), Code: "PAYMENT_FAILED", Merchant: "amazon"}

	for _, tc := range []struct {
		name   string
		d      schemas.DeadLetter
		want   dlq.Label
		detail string
	}{
		{"the customer may still complete it", ended("o-3ds-waiting", "cart-waiting", timeout), dlq.LabelOutcomeUnknown, "action-required"},
		{"the customer completed it after the deadline", ended("o-3ds-placed", "cart-placed", timeout), dlq.LabelAlreadyPlaced, "amazon by attempt 1"},
		{"the challenge failed after the deadline", ended("o-3ds-failed", "cart-failed", timeout), dlq.LabelWillSubmit, "new cart"},
		// Not an action timeout: the attempt's outcome is known, the provider is not asked
		// (it does not know this cart: asking would make the outcome unknown).
		{"an ordinary placement failure is not probed", ended("o-declined", "cart-unknown", declined), dlq.LabelWillSubmit, "new cart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tool.Inspect(ctx, nil, tc.d, dlq.Options{ReplayID: "r1"})
			if err != nil {
				t.Fatal(err)
			}
			if p.Label != tc.want || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("label %s detail %q; want %s with %q", p.Label, p.Detail, tc.want, tc.detail)
			}
		})
	}
}
