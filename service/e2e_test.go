package service_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/schemas"
)

func TestSkeletonScenariosEndToEnd(t *testing.T) {
	s := startStack(t)
	gen := demo.Generator{Prefix: "sk-", Scenarios: demo.Skeleton}
	var orders []demo.Order
	for range 50 {
		o := gen.Next()
		orders = append(orders, o)
		s.send(t, o.Request)
	}
	s.waitFinished(t, len(orders), 60*time.Second)

	ledger := s.env.Sandbox.Ledger()
	byRef := ledger.ByOrderRef()
	for _, o := range orders {
		id := o.Request.OrderID
		if got := s.tally.Outcome(id); got != o.Scenario.Want {
			t.Errorf("order %s (%s): outcome %q, want %q; events %v", id, o.Scenario.Name, got, o.Scenario.Want, s.tally.Events(id))
		}
		first, second := byRef[id+"/1"], byRef[id+"/2"]
		switch o.Scenario.Name {
		case demo.Placed.Name:
			if len(first) != 1 || !first[0].Charged || first[0].Refunded || len(second) != 0 {
				t.Errorf("order %s: ledger %+v %+v, want one charged cart", id, first, second)
			}
		case demo.PaymentDeclined.Name:
			if len(first)+len(second) != 0 {
				t.Errorf("order %s: declined payment must charge nothing, ledger %+v", id, first)
			}
		case demo.OutOfStockOnce.Name:
			if len(first) != 1 || !first[0].Refunded || len(second) != 1 || second[0].Refunded {
				t.Errorf("order %s: want attempt 1 refunded and replacement attempt 2 charged, ledger %+v / %+v", id, first, second)
			}
		}
	}
	s.audit(t, orders)
}

func TestDuplicateRequestSubmitsOnce(t *testing.T) {
	s := startStack(t)
	o := demo.Placed.Build("dup-1", 1)
	s.send(t, o, o)
	s.waitFinished(t, 1, 30*time.Second)
	// Send it a third time after it finished: the stored outcome is re-emitted, nothing more.
	s.send(t, o)
	other := demo.Placed.Build("dup-2", 2)
	s.send(t, other)
	s.waitFinished(t, 2, 30*time.Second)

	if got := s.tally.Outcome("dup-1"); got != "placed" {
		t.Fatalf("outcome %q, want placed; events %v", got, s.tally.Events("dup-1"))
	}
	if entries := s.env.Sandbox.Ledger().ByOrderRef()["dup-1/1"]; len(entries) != 1 {
		t.Fatalf("ledger has %d submitted carts for dup-1, want exactly 1: %+v", len(entries), entries)
	}
}

// sequences are the status events each scenario must produce, in order, as
// "attempt/merchant/state" (merchant "" = the whole attempt). placement_started is left out:
// whether a poll sees placement in progress before its end depends on timing.
var sequences = map[string][]string{
	"placed":                       {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/placed", "1//placed"},
	"payment-declined":             {"1//cart_created", "1//failed", "1/amazon/dead_lettered"},
	"out-of-stock-then-replaced":   {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/failed", "1/amazon/replaced", "2//cart_created", "2//submitted", "2/amazon/submitted", "2/amazon/placed", "2//placed"},
	"undeliverable":                {"1//cart_created", "1//failed", "1/amazon/dead_lettered"},
	"upstream-flaky":               {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/placed", "1//placed"},
	"timeout-but-placed":           {"1//cart_created", "1//outcome_unknown", "1/amazon/placed", "1//placed"},
	"timeout-never-started":        {"1//cart_created", "1//outcome_unknown", "1//resubmitted", "1/amazon/placed", "1//placed"},
	"stuck":                        {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/failed", "1/amazon/needs_attention"},
	"placement-failed":             {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/failed", "1/amazon/dead_lettered"},
	"retryability-unknown":         {"1//cart_created", "1//failed", "1/amazon/dead_lettered"},
	"always-unavailable":           {"1//cart_created", "1//failed", "1//retry_scheduled", "1//retry_scheduled", "1//retry_scheduled", "1/amazon/dead_lettered"},
	"two-merchants-one-replaced":   {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/shop-a.myshopify.com/submitted", "1/amazon/placed", "1/shop-a.myshopify.com/failed", "1/shop-a.myshopify.com/replaced", "2//cart_created", "2//submitted", "2/shop-a.myshopify.com/submitted", "2/shop-a.myshopify.com/placed", "2//placed"},
	"cart-expired":                 {"1//cart_created", "1//failed", "1//replaced", "2//cart_created", "2//failed", "2//replaced", "3//cart_created", "3//failed", "3/amazon/dead_lettered"},
	"3ds-passed":                   {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/placed", "1//placed"},
	"3ds-failed":                   {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/failed", "1/amazon/dead_lettered"},
	"3ds-abandoned":                {"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/failed", "1/amazon/dead_lettered"},
	"dr-payment-session-not-ready": {"1//cart_created", "1//failed", "1/digitalriver/dead_lettered"},
	"dr-placed":                    {"1//cart_created", "1//submitted", "1/digitalriver/submitted", "1/digitalriver/placed", "1//placed"},
	"dr-product-details":           {"1//cart_created", "1//submitted", "1/digitalriver/submitted", "1/digitalriver/placed", "1//placed"},
	"dr-declined-409":              {"1//cart_created", "1//failed", "1/digitalriver/dead_lettered"},
	"dr-bad-request-400":           {"1//cart_created", "1//failed", "1/digitalriver/dead_lettered"},
	"dr-timeout-but-created":       {"1//cart_created", "1//outcome_unknown", "1/digitalriver/placed", "1//placed"},
	"dr-500-then-resubmitted":      {"1//cart_created", "1//outcome_unknown", "1//resubmitted", "1/digitalriver/placed", "1//placed"},
	"dr-delayed-payment-placed":    {"1//cart_created", "1//submitted", "1/digitalriver/submitted", "1/digitalriver/placed", "1//placed"},
	"dr-delayed-payment-cancelled": {"1//cart_created", "1//submitted", "1/digitalriver/submitted", "1/digitalriver/failed", "1/digitalriver/dead_lettered"},
	"dr-fulfilled-complete":        {"1//cart_created", "1//submitted", "1/digitalriver/submitted", "1/digitalriver/placed", "1//placed"},
}

// ledgerWant is how many carts each attempt of a scenario submits: {attempt 1, attempt 2}.
var ledgerWant = map[string][2]int{
	"out-of-stock-then-replaced": {1, 1}, "two-merchants-one-replaced": {1, 1},
	"payment-declined": {0, 0}, "undeliverable": {0, 0}, "retryability-unknown": {0, 0}, "always-unavailable": {0, 0},
	"dr-declined-409": {0, 0}, "dr-bad-request-400": {0, 0}, "cart-expired": {0, 0}, "dr-payment-session-not-ready": {0, 0},
}

// TestEveryScenario runs one order per scenario of both providers (one row per seed rule) and
// checks its outcome, the exact sequence of its status events, its failure events and the
// sandbox ledger.
func TestEveryScenario(t *testing.T) {
	s := startStack(t)
	var orders []demo.Order
	for i, sc := range demo.All() {
		o := demo.Order{Request: sc.Build(fmt.Sprintf("every-%02d-%s", i, sc.Name), i), Scenario: sc}
		orders = append(orders, o)
		s.send(t, o.Request)
	}
	s.waitFinished(t, len(orders), 90*time.Second)
	byRef := s.env.Sandbox.Ledger().ByOrderRef()
	for _, o := range orders {
		id := o.Request.OrderID
		t.Run(o.Scenario.Name, func(t *testing.T) {
			if got := s.tally.Outcome(id); got != o.Scenario.Want {
				t.Errorf("outcome %q, want %q", got, o.Scenario.Want)
			}
			// The order is finished once every merchant order is terminal; the attempt-level
			// event produced with the last of them may still be on its way: poll for it.
			want := sequences[o.Scenario.Name]
			var got []string
			for deadline := time.Now().Add(10 * time.Second); ; {
				got = got[:0]
				for _, e := range s.tally.Events(id) {
					if !strings.HasSuffix(e, "/placement_started") {
						got = append(got, e)
					}
				}
				if slices.Equal(got, want) || len(got) > len(want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond) // poll interval
			}
			if !slices.Equal(got, want) {
				t.Errorf("status events\n got %v\nwant %v", got, want)
			}
			carts, ok := ledgerWant[o.Scenario.Name]
			if !ok {
				carts = [2]int{1, 0}
			}
			if n1, n2 := len(byRef[id+"/1"]), len(byRef[id+"/2"]); n1 != carts[0] || n2 != carts[1] {
				t.Errorf("ledger: %d carts for attempt 1 and %d for attempt 2, want %d and %d", n1, n2, carts[0], carts[1])
			}
		})
	}
	s.audit(t, orders)
}

// TestRedisOutageFailsClosed stops Redis while orders arrive: nothing may be submitted without
// the idempotency store, and every order completes once Redis is back. Redis is always the
// in-process one here (it is stopped and restarted); Kafka and the registry follow the env.
func TestRedisOutageFailsClosed(t *testing.T) {
	s := startStack(t, func(set *stackSetup) { set.env.RedisURL = "" })
	gen := demo.Generator{Prefix: "outage-", Scenarios: []demo.Scenario{demo.Placed, demo.DRPlaced}}
	for range 4 {
		s.send(t, gen.Next().Request)
	}
	s.waitFinished(t, 4, 30*time.Second)
	ledger := s.env.Sandbox.Ledger()
	before := len(ledger.Entries())

	s.env.Redis.Close()
	var during []demo.Order
	for range 10 {
		o := gen.Next()
		during = append(during, o)
		s.send(t, o.Request)
	}
	// The outage lasts 1.5s: long enough for every order to be polled, handled and retried.
	time.Sleep(1500 * time.Millisecond)
	if n := len(ledger.Entries()); n != before {
		t.Fatalf("%d carts were submitted while Redis was down", n-before)
	}
	if f := s.tally.Finished(); f != 4 {
		t.Fatalf("%d orders finished while Redis was down, want none beyond the first 4", f-4)
	}
	if err := s.env.Redis.Restart(); err != nil {
		t.Fatal(err)
	}
	s.waitFinished(t, 14, 60*time.Second)
	for _, o := range during {
		if got := s.tally.Outcome(o.Request.OrderID); got != o.Scenario.Want {
			t.Errorf("order %s: %q, want %q", o.Request.OrderID, got, o.Scenario.Want)
		}
	}
	if n := len(ledger.Entries()); n != before+len(during) {
		t.Errorf("ledger grew by %d carts, want %d", n-before, len(during))
	}
	if d := ledger.DoubleSubmits(); len(d) > 0 {
		t.Errorf("submitted twice: %v", d)
	}
}

// TestSameOrderDifferentPayloadIsRefused: a second request for the same order attempt with
// other items is dead-lettered and changes nothing; the first is placed.
func TestSameOrderDifferentPayloadIsRefused(t *testing.T) {
	s := startStack(t)
	o := demo.Placed.Build("conflict-1", 1)
	other := o
	other.Items = []schemas.Item{{Merchant: "amazon", ProductID: "B0OTHER", Quantity: 5, PriceCents: 100}}
	s.send(t, o)
	s.waitFinished(t, 1, 30*time.Second)
	if err := s.svc.Producer().RequestOrder(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	dl := s.waitDeadLetter(t, func(d schemas.DeadLetter) bool { return d.OrderID == "conflict-1" }, 30*time.Second)
	if !strings.Contains(dl.Reason, "different payload") || dl.Request == nil || len(dl.RawValue) == 0 {
		t.Fatalf("dead letter %+v: want the conflict reason, the request and the raw record", dl)
	}
	if got := s.tally.Outcome("conflict-1"); got != "placed" {
		t.Fatalf("outcome %q, want placed", got)
	}
	if n := len(s.env.Sandbox.Ledger().ByOrderRef()["conflict-1/1"]); n != 1 {
		t.Fatalf("%d carts submitted, want 1", n)
	}
}

// waitDeadLetter reads the dead-letter topic until match holds for a record.
func (s *stack) waitDeadLetter(t *testing.T, match func(schemas.DeadLetter) bool, d time.Duration) schemas.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var found *schemas.DeadLetter
	err := oracle.Tail(ctx, s.env.Brokers, testenv.KafkaSecurity(t), s.topo.DLQ(), func(r *kgo.Record) {
		if dl, err := s.svc.Producer().Codec().DecodeDeadLetter(ctx, r.Value); err == nil && match(dl) && found == nil {
			found = &dl
		}
	}, func() bool { return found != nil })
	if err != nil {
		t.Fatalf("no matching dead letter within %v: %v", d, err)
	}
	return *found
}

// TestProviderRateLimit429 lets orderflow run into Rye's strict tier (the sandbox enforces
// 5 submits/s, orderflow's own limiter is off): every order is still placed, the 429s never
// count as failed attempts (no retry tier, no dead letter), and nothing is submitted twice.
func TestProviderRateLimit429(t *testing.T) {
	s := startStack(t, func(set *stackSetup) {
		set.env.Sandbox.Rye.StrictRPS = 5
		set.svc.RateLimits = map[string]ratelimit.Limits{"rye": {}}
	})
	gen := demo.Generator{Prefix: "rl-", Scenarios: []demo.Scenario{demo.Placed}}
	var orders []demo.Order
	for range 20 {
		o := gen.Next()
		orders = append(orders, o)
		s.send(t, o.Request)
	}
	s.waitFinished(t, len(orders), 60*time.Second)
	for _, o := range orders {
		if got := s.tally.Outcome(o.Request.OrderID); got != "placed" {
			t.Errorf("order %s: %q, want placed; events %v", o.Request.OrderID, got, s.tally.Events(o.Request.OrderID))
		}
		for _, e := range s.tally.Events(o.Request.OrderID) {
			if strings.HasSuffix(e, "/failed") || strings.HasSuffix(e, "/retry_scheduled") {
				t.Errorf("order %s: a 429 counted as a failure: %v", o.Request.OrderID, s.tally.Events(o.Request.OrderID))
			}
		}
	}
	if d := s.env.Sandbox.Ledger().DoubleSubmits(); len(d) > 0 {
		t.Errorf("submitted twice: %v", d)
	}
	limited := 0
	for _, o := range orders {
		h, err := s.store.History(context.Background(), o.Request.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range h {
			if strings.Contains(string(e), `"HTTPStatus":429`) {
				limited++
			}
		}
	}
	if limited == 0 {
		t.Fatal("no call was answered 429: the test did not exercise the provider's limit")
	}
	t.Logf("%d calls answered 429, none counted as a failure", limited)
}
