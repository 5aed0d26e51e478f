package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/schemas"
)

// logLine is one line of log/slog's JSONHandler.
type logLine map[string]any

func (l logLine) str(k string) string { s, _ := l[k].(string); return s }

func (l logLine) num(k string) int { f, _ := l[k].(float64); return int(f) }

func parseLines(t *testing.T, s string) []logLine {
	t.Helper()
	var out []logLine
	for _, raw := range strings.Split(strings.TrimSpace(s), "\n") {
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line is no JSON object: %q: %v", raw, err)
		}
		out = append(out, l)
	}
	return out
}

// planted is personal data put into every request of TestLogsNameOrdersNeverPersonalData,
// distinctive enough that any occurrence in the logs is a leak.
var planted = struct {
	first, last, email, phone, address1, address2, city, ryeToken, drSource, shopperIP string
}{
	first: "Zebulonia", last: "Quillfeather", email: "zq.canary7731@pii-canary.example", phone: "+1-555-0199-7731",
	address1: "742 Canary Evergreen Terrace", address2: "Suite Canary-7731", city: "Canaryville",
	ryeToken: "tok_canary_7731_secret", drSource: "_canary7731secret", shopperIP: "198.51.100.173",
}

// plant puts the planted personal data into req without changing its scenario: the postal
// code (the sandbox's undeliverable trigger) stays, Rye's scripted declined tokens stay, and a
// Digital River source keeps its scenario prefix.
func plant(req schemas.OrderRequested) schemas.OrderRequested {
	b := req.Buyer
	b.FirstName, b.LastName, b.Email, b.Phone = planted.first, planted.last, planted.email, planted.phone
	b.Address1, b.Address2, b.City = planted.address1, planted.address2, planted.city
	req.Buyer, req.Billing, req.ShopperIP = b, &b, planted.shopperIP
	switch {
	case req.Provider == "digitalriver" && req.PaymentRef != "":
		req.PaymentRef += planted.drSource
	case req.Provider == "rye" && req.PaymentRef == "tok_visa":
		req.PaymentRef = planted.ryeToken
	}
	return req
}

// TestLogsNameOrdersNeverPersonalData runs scenarios that dead-letter orders, need attention
// and fail provider calls (retryable, not retryable, retryability unknown, outcome unknown,
// both providers) with personal data planted in every request, logging JSON at debug level.
// Every dead-lettered and needs-attention merchant order has its line at info or above with
// its order id, attempt, provider, cart and action; every failed provider call the order's
// history records has exactly one line with its operation, class and code; and none of the
// planted values appears anywhere in the logs.
func TestLogsNameOrdersNeverPersonalData(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startStack(t, func(set *stackSetup) { set.svc.Logger = logger })
	scenarios := []demo.Scenario{demo.PaymentDeclined, demo.Undeliverable, demo.Stuck, demo.RetryabilityUnknown,
		demo.AlwaysUnavailable, demo.UpstreamFlaky, demo.TimeoutPlaced, demo.PlacementFailed,
		demo.DRDeclined, demo.DRBadTax, demo.DRServerError, demo.DRSessionNotReady, demo.Placed}
	var orders []demo.Order
	for i, sc := range scenarios {
		o := demo.Order{Request: plant(sc.Build(fmt.Sprintf("logs-%02d-%s", i, sc.Name), 700+i)), Scenario: sc}
		orders = append(orders, o)
		s.send(t, o.Request)
	}
	s.waitFinished(t, len(orders), 90*time.Second)

	// The planted data went through orderflow: the dead letter of a declined order holds it.
	dl := s.waitDeadLetter(t, func(d schemas.DeadLetter) bool { return d.OrderID == orders[0].Request.OrderID }, 30*time.Second)
	if dl.Request == nil || dl.Request.Buyer.Email != planted.email {
		t.Fatalf("dead letter %+v: want the request with the planted buyer", dl.Request)
	}

	// The outcome lines are written once the records are acknowledged, maybe after the tally
	// saw them: poll until each terminal order has its line.
	type outcomeKey struct{ order, msg string }
	want := map[outcomeKey]string{} // -> action
	for _, o := range orders {
		outcome, action, _ := strings.Cut(o.Scenario.Want, ":")
		switch outcome {
		case string(processor.StatusDeadLettered):
			want[outcomeKey{o.Request.OrderID, "order dead-lettered"}] = action
		case string(processor.StatusNeedsAttention):
			want[outcomeKey{o.Request.OrderID, "order needs attention"}] = action
		}
	}
	var lines []logLine
	missing := map[outcomeKey]string{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		lines = parseLines(t, logs.String())
		clear(missing)
		for k, v := range want {
			missing[k] = v
		}
		for _, l := range lines {
			delete(missing, outcomeKey{l.str("order_id"), l.str("msg")})
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for k := range missing {
		t.Errorf("no %q line for order %s", k.msg, k.order)
	}

	byID := map[string]demo.Order{}
	for _, o := range orders {
		byID[o.Request.OrderID] = o
	}
	type failureKey struct {
		order           string
		attempt         int
		operation, code string
		httpStatus      int
	}
	logged := map[failureKey]int{}
	classes := map[string]string{} // class -> level seen
	for _, l := range lines {
		o, ours := byID[l.str("order_id")]
		switch msg := l.str("msg"); {
		case !ours:
		case msg == "order dead-lettered" || msg == "order needs attention":
			wantLevel := "INFO"
			if msg == "order needs attention" {
				wantLevel = "WARN"
			}
			if l.str("level") != wantLevel || l.str("action") != want[outcomeKey{o.Request.OrderID, msg}] ||
				l.num("attempt") < 1 || l.str("provider") != o.Request.Provider || l.str("merchant") == "" {
				t.Errorf("%s: %s line %v: want level %s, action %q, the attempt, provider %s and merchant", o.Request.OrderID, msg, l,
					wantLevel, want[outcomeKey{o.Request.OrderID, msg}], o.Request.Provider)
			}
			if msg == "order needs attention" && l.str("cart_id") == "" {
				t.Errorf("%s: needs-attention line without the cart: %v", o.Request.OrderID, l)
			}
		case msg == "provider call failed":
			k := failureKey{l.str("order_id"), l.num("attempt"), l.str("operation"), l.str("code"), l.num("http_status")}
			logged[k]++
			class, level := l.str("class"), l.str("level")
			wantLevel := "INFO"
			if class == "not-retryable" || class == "retryability-unknown" {
				wantLevel = "WARN"
			}
			if level != wantLevel || l.str("provider") != o.Request.Provider || l.str("call") == "" {
				t.Errorf("%s: provider failure line %v: want level %s, provider %s and the call", o.Request.OrderID, l, wantLevel, o.Request.Provider)
			}
			classes[class] = level
		}
	}
	// Every failed call the order's history records (the worker records each one it makes) has
	// exactly one line.
	recorded := map[failureKey]int{}
	for _, o := range orders {
		history, err := s.store.History(context.Background(), o.Request.OrderID)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range history {
			var a schemas.Attempt
			if err := json.Unmarshal(raw, &a); err != nil {
				t.Fatal(err)
			}
			op := "submit"
			if a.Phase == processor.PhaseCart {
				op = "create_cart"
			}
			recorded[failureKey{o.Request.OrderID, a.Attempt, op, a.Code, a.HTTPStatus}]++
		}
	}
	for k, n := range recorded {
		if logged[k] != n {
			t.Errorf("failed provider call %+v: recorded %d times, logged %d times", k, n, logged[k])
		}
	}
	for k, n := range logged {
		if recorded[k] == 0 {
			t.Errorf("provider failure logged %d times but not in the order's history: %+v", n, k)
		}
	}
	for _, c := range []string{"not-retryable", "retryable", "retryability-unknown", "outcome-unknown"} {
		if classes[c] == "" {
			t.Errorf("no provider failure of class %s was logged (logged: %v): the scenarios no longer cover it", c, classes)
		}
	}

	all := logs.String()
	for _, pii := range []string{planted.first, planted.last, planted.email, planted.phone, planted.address1,
		planted.address2, planted.city, planted.ryeToken, planted.drSource, planted.shopperIP, "canary7731"} {
		if strings.Contains(strings.ToLower(all), strings.ToLower(pii)) {
			for _, l := range strings.Split(all, "\n") {
				if strings.Contains(strings.ToLower(l), strings.ToLower(pii)) {
					t.Errorf("personal data %q logged: %s", pii, l)
					break
				}
			}
		}
	}
	t.Logf("%d log lines, %d failed provider calls logged, classes %v", len(lines), len(logged), classes)
}
