package oracle

import (
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/schemas"
)

// tallyOf feeds events ("attempt/merchant/state[:action]", terminal when the state is one)
// of one order into a tally that expects the order's merchants.
func tallyOf(t *testing.T, orders map[string][]schemas.OrderStatus) *demo.Tally {
	t.Helper()
	tl := demo.NewTally()
	for id, evs := range orders {
		merchants := map[string]bool{}
		for _, e := range evs {
			if e.Merchant != "" {
				merchants[e.Merchant] = true
			}
		}
		var items []schemas.Item
		for m := range merchants {
			items = append(items, schemas.Item{Merchant: m})
		}
		tl.Expect(schemas.OrderRequested{OrderID: id, Items: items})
		for i, e := range evs {
			e.OrderID = id
			if e.EventID == "" {
				e.EventID = id + "-" + string(rune('a'+i))
			}
			tl.Observe(e)
		}
	}
	return tl
}

func st(attempt int, merchant, state, action string, terminal bool) schemas.OrderStatus {
	return schemas.OrderStatus{Attempt: attempt, Merchant: merchant, State: state, Action: action, Terminal: terminal}
}

func checks(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		c := f.Check
		if f.Tolerated {
			c += " (tolerated)"
		}
		out = append(out, f.OrderID+": "+c)
	}
	return out
}

func TestOutcomes(t *testing.T) {
	placed := demo.Scenario{Name: "placed", Want: "placed"}
	declined := demo.Scenario{Name: "declined", Want: "dead_lettered:new-payment-method"}
	tl := tallyOf(t, map[string][]schemas.OrderStatus{
		"ok":       {st(1, "", "submitted", "", false), st(1, "amazon", "placed", "", true)},
		"wrong":    {st(1, "amazon", "dead_lettered", "investigate", true)},
		"open":     {st(1, "", "cart_created", "", false), st(1, "amazon", "submitted", "", false)},
		"twice":    {st(1, "amazon", "placed", "", true), st(2, "amazon", "dead_lettered", "investigate", true)},
		"degraded": {st(1, "", "outcome_unknown", "", false), st(1, "amazon", "needs_attention", "contact-provider", true)},
		"charged":  {st(1, "", "outcome_unknown", "", false), st(1, "amazon", "needs_attention", "contact-provider", true)},
		"safe":     {st(1, "", "outcome_unknown", "", false), st(1, "amazon", "dead_lettered", "investigate", true)},
	})
	wants := map[string]demo.Scenario{"ok": placed, "wrong": placed, "open": placed, "twice": placed,
		"degraded": placed, "charged": placed, "safe": declined}
	entries := []ledger.Entry{{OrderRef: "charged/1", Charged: true}, {OrderRef: "degraded/1", Charged: true, Refunded: true}}

	got := checks(Outcomes(wants, tl, entries, false))
	want := []string{
		"charged: " + CheckUnexpected, // charged and escalated: not a safe escalation
		"degraded: " + CheckDegraded + " (tolerated)",
		"open: " + CheckUnfinished,
		"safe: " + CheckDegraded + " (tolerated)",
		"twice: " + CheckSecondTerminal,
		"wrong: " + CheckUnexpected,
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings\n got %q\nwant %q", got, want)
	}
	strict := Violations(Outcomes(wants, tl, entries, true))
	if n := Count(strict, CheckUnexpected); n != 4 || len(strict) != 6 {
		t.Errorf("strict: %q, want every difference a violation (4 unexpected)", checks(strict))
	}
}

func TestOneTerminal(t *testing.T) {
	terms := map[MerchantOrder][]Terminal{
		{"a", "amazon"}: {{EventID: "e1", State: "placed"}},
		{"b", "amazon"}: {{EventID: "e2", State: "placed", Offset: 3}, {EventID: "e3", State: "dead_lettered", Action: "investigate", Offset: 9}},
	}
	got := OneTerminal(terms)
	if len(got) != 1 || got[0].OrderID != "b" || got[0].Check != CheckTerminals {
		t.Fatalf("findings %q, want b's second terminal", checks(got))
	}
	if want := `b merchant "amazon": attempt 0 placed (event e2, p0@3); attempt 0 dead_lettered:investigate (event e3, p0@9)`; got[0].Detail != want {
		t.Errorf("detail %q, want %q", got[0].Detail, want)
	}
}

func TestNoDoubleSubmit(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	entries := []ledger.Entry{
		{Provider: "rye", CartID: "c1", OrderRef: "o1/1", Charged: true, At: at},
		{Provider: "rye", CartID: "c2", OrderRef: "o1/2", Charged: true, At: at},
		{Provider: "rye", CartID: "c3", OrderRef: "o2/1", Charged: true, At: at},
		{Provider: "rye", CartID: "c3", OrderRef: "o2/1", Charged: true, At: at}, // the same cart submitted again
		{Provider: "digitalriver", CartID: "x", At: at},
		{Provider: "digitalriver", CartID: "y", At: at}, // no order ref: not attributable
	}
	got := NoDoubleSubmit(entries)
	if len(got) != 1 || got[0].OrderID != "o2" || got[0].Check != CheckSubmittedTwice {
		t.Fatalf("findings %q, want o2/1 submitted twice", checks(got))
	}
	if len(NoDoubleSubmit(entries[:3])) != 0 {
		t.Error("two attempts of one order with a cart each is no double submit")
	}
}

func TestDeadLetters(t *testing.T) {
	hist := []schemas.Attempt{{Attempt: 1}}
	dls := []schemas.DeadLetter{
		{DeadLetterID: "d1", OrderID: "ok", Attempt: 1, Merchant: "amazon", Action: "new-payment-method", Attempts: hist},
		{DeadLetterID: "d1", OrderID: "ok", Attempt: 1, Merchant: "amazon", Action: "new-payment-method", Attempts: hist}, // a re-emission
		{DeadLetterID: "d2", OrderID: "bare", Attempt: 1, Merchant: "amazon", Action: ""},
		{DeadLetterID: "d3", OrderID: "dup", Attempt: 1, Merchant: "amazon", Action: "investigate", Attempts: hist},
		{DeadLetterID: "d4", OrderID: "dup", Attempt: 1, Merchant: "amazon", Action: "investigate", Attempts: hist},
		{DeadLetterID: "d5", Rule: ruleUnprocessable, SourceTopic: "orders.requests", Reason: "decoding"},
	}
	terms := map[MerchantOrder][]Terminal{
		{"ok", "amazon"}:      {{EventID: "e1", State: "dead_lettered", Action: "new-payment-method"}},
		{"missing", "amazon"}: {{EventID: "e2", State: "dead_lettered", Action: "new-address"}},
		{"placed", "amazon"}:  {{EventID: "e3", State: "placed"}},
	}
	got := checks(DeadLetters(dls, terms))
	want := []string{"bare: " + CheckIncompleteLetter, ": " + CheckUnprocessable, "dup: " + CheckDuplicateLetter, "missing: " + CheckMissingLetter}
	if !slices.Equal(got, want) {
		t.Errorf("findings\n got %q\nwant %q", got, want)
	}
	if fs := DeadLetters(dls[:2], nil); len(fs) != 0 {
		t.Errorf("a complete dead letter and its re-emission: findings %q", checks(fs))
	}
}

func TestAnnounced(t *testing.T) {
	tl := tallyOf(t, map[string][]schemas.OrderStatus{
		"ok":   {st(1, "", "submitted", "", false), st(1, "", "resubmitted", "", false), st(1, "amazon", "placed", "", true)},
		"lost": {st(1, "", "cart_created", "", false), st(1, "amazon", "placed", "", true)},
	})
	got := Announced([]string{"lost", "ok"}, tl)
	if len(got) != 1 || got[0].OrderID != "lost" || got[0].Check != CheckUnannounced {
		t.Fatalf("findings %q, want lost's attempt 1 placed without its submit announced", checks(got))
	}
}

func TestChargedNotPlaced(t *testing.T) {
	tl := tallyOf(t, map[string][]schemas.OrderStatus{
		"paid":      {st(1, "amazon", "dead_lettered", "investigate", true)},
		"refunded":  {st(1, "amazon", "dead_lettered", "investigate", true)},
		"placed":    {st(1, "amazon", "placed", "", true)},
		"attention": {st(1, "amazon", "needs_attention", "contact-provider", true)},
		"challenge": {st(1, "amazon", "dead_lettered", "complete-payment-challenge", true)},
	})
	wants := map[string]demo.Scenario{"paid": {}, "refunded": {}, "placed": {}, "attention": {}, "challenge": {}}
	entries := []ledger.Entry{
		{OrderRef: "paid/1", CartID: "c1", Charged: true},
		{OrderRef: "refunded/1", Charged: true, Refunded: true},
		{OrderRef: "placed/1", Charged: true},
		{OrderRef: "attention/1", Charged: true},
		{OrderRef: "challenge/1", Charged: true},
		{OrderRef: "not-ours/1", Charged: true},
	}
	got := ChargedNotPlaced(entries, wants, tl)
	if len(got) != 1 || got[0].OrderID != "paid" || got[0].Check != CheckChargedNotPlaced {
		t.Fatalf("findings %q, want paid charged for nothing", checks(got))
	}
}
