package oracle

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/schemas"
)

// The checks' names (Finding.Check).
const (
	CheckUnfinished        = "unfinished order"
	CheckSecondTerminal    = "second different terminal status"
	CheckDegraded          = "degraded outcome after an injected fault (safe escalation)"
	CheckUnexpected        = "unexpected outcome"
	CheckTerminals         = "merchant order with more than one terminal event"
	CheckSubmittedTwice    = "order attempt submitted twice (ledger)"
	CheckUnprocessable     = "unprocessable record dead-lettered (orders sent by the driver are all valid)"
	CheckIncompleteLetter  = "dead letter without action or history"
	CheckDuplicateLetter   = "more than one dead letter for one merchant order attempt"
	CheckMissingLetter     = "dead_lettered status without its dead letter"
	CheckUnannounced       = "tracked attempt without a submitted/outcome_unknown status event (lost status event)"
	CheckChargedNotPlaced  = "charged, not refunded, nothing placed"
	ruleUnprocessable      = "unprocessable-record"
	stateOutcomeUnknown    = "outcome_unknown"
	outcomePlaced          = "placed"
	actionPaymentChallenge = "dead_lettered:complete-payment-challenge"
)

// Count is how many findings of fs are of check.
func Count(fs []Finding, check string) int {
	n := 0
	for _, f := range fs {
		if f.Check == check {
			n++
		}
	}
	return n
}

// Outcomes checks invariant 1: every order of wants (order id -> scenario) finished in t with
// its scenario's Want. Unless strict, one difference is tolerated (Tolerated, CheckDegraded):
// the order ended in a human escalation (every merchant dead_lettered:* or needs_attention:*),
// its status history shows an outcome_unknown (a submit answer lost to an injected 503/504 or
// to a kill), and either its Want is not "placed" (it was never going to be placed) or it ended
// needs_attention with nothing charged in entries (the tracker's bounded never-started
// resubmits ran out). Nothing was placed or charged behind anyone's back and a person gets the
// order. Every other difference is a violation: unfinished, a second different terminal, an
// order placed that must not be, a Want "placed" order escalated without an unknown outcome.
func Outcomes(wants map[string]demo.Scenario, t *demo.Tally, entries []ledger.Entry, strict bool) []Finding {
	charged := map[string]bool{}
	for _, e := range entries {
		if e.OrderRef != "" && e.Charged && !e.Refunded {
			orderID, _, _ := strings.Cut(e.OrderRef, "/")
			charged[orderID] = true
		}
	}
	var out []Finding
	for _, id := range slices.Sorted(maps.Keys(wants)) {
		sc := wants[id]
		got := t.Outcome(id)
		events := t.Events(id)
		add := func(check string, tolerated bool, detail string) {
			out = append(out, Finding{Check: check, OrderID: id, Detail: detail, Tolerated: tolerated})
		}
		switch {
		case got == "":
			add(CheckUnfinished, false, fmt.Sprintf("%s (%s): events %v", id, sc.Name, events))
		case got != sc.Want && strings.Contains(got, "|"):
			add(CheckSecondTerminal, false, fmt.Sprintf("%s (%s): %s, want %s; events %v", id, sc.Name, got, sc.Want, events))
		case got != sc.Want && !strict && escalation(got) && slices.ContainsFunc(events, isState(stateOutcomeUnknown)) &&
			(sc.Want != outcomePlaced || (strings.HasPrefix(got, "needs_attention:") && !charged[id])):
			add(CheckDegraded, true, fmt.Sprintf("%s (%s): %s, want %s; events %v", id, sc.Name, got, sc.Want, events))
		case got != sc.Want:
			add(CheckUnexpected, false, fmt.Sprintf("%s (%s): %s, want %s; events %v", id, sc.Name, got, sc.Want, events))
		}
	}
	return out
}

func escalation(outcome string) bool {
	for o := range strings.SplitSeq(outcome, ",") {
		if !strings.HasPrefix(o, "dead_lettered:") && !strings.HasPrefix(o, "needs_attention:") {
			return false
		}
	}
	return true
}

// isState matches a demo.Tally event ("attempt/merchant/state") of state.
func isState(state string) func(string) bool {
	return func(e string) bool { return strings.HasSuffix(e, "/"+state) }
}

// OneTerminal checks invariant 2: exactly one terminal event (one event id) per merchant order.
func OneTerminal(terms map[MerchantOrder][]Terminal) []Finding {
	var out []Finding
	for _, k := range sortedOrders(terms) {
		if evs := terms[k]; len(evs) > 1 {
			s := make([]string, len(evs))
			for i, e := range evs {
				s[i] = e.String()
			}
			out = append(out, Finding{Check: CheckTerminals, OrderID: k.OrderID,
				Detail: fmt.Sprintf("%s merchant %q: %s", k.OrderID, k.Merchant, strings.Join(s, "; "))})
		}
	}
	return out
}

// NoDoubleSubmit checks invariant 3 on a sandbox ledger: no order attempt (order ref) with
// more than one submitted cart or consumed checkout. Entries without an order ref are not
// attributable and pass.
func NoDoubleSubmit(entries []ledger.Entry) []Finding {
	byRef := map[string][]ledger.Entry{}
	for _, e := range entries {
		if e.OrderRef != "" {
			byRef[e.OrderRef] = append(byRef[e.OrderRef], e)
		}
	}
	var out []Finding
	for _, ref := range slices.Sorted(maps.Keys(byRef)) {
		es := byRef[ref]
		if len(es) < 2 {
			continue
		}
		s := make([]string, len(es))
		for i, e := range es {
			s[i] = fmt.Sprintf("%s cart %s charged=%v refunded=%v at %s", e.Provider, e.CartID, e.Charged, e.Refunded, e.At.Format("15:04:05.000"))
		}
		orderID, _, _ := strings.Cut(ref, "/")
		out = append(out, Finding{Check: CheckSubmittedTwice, OrderID: orderID,
			Detail: fmt.Sprintf("%s: %d entries: %s", ref, len(es), strings.Join(s, "; "))})
	}
	return out
}

// DeadLetters checks invariant 4: no request was unprocessable (every one the run sent is
// valid), every dead letter has its action and attempt history, a merchant order attempt has
// at most one dead letter (one dead letter id), and every merchant order whose terminal event
// is dead_lettered has a dead letter of that order with that action.
func DeadLetters(dls []schemas.DeadLetter, terms map[MerchantOrder][]Terminal) []Finding {
	var out []Finding
	byOrderAction := map[[2]string]bool{}
	byKey := map[string][]string{}
	for _, dl := range dls {
		if dl.Rule == ruleUnprocessable {
			out = append(out, Finding{Check: CheckUnprocessable, OrderID: dl.OrderID,
				Detail: fmt.Sprintf("%s p%d@%d order %q: %s", dl.SourceTopic, dl.SourcePartition, dl.SourceOffset, dl.OrderID, dl.Reason)})
			continue
		}
		if dl.Action == "" || len(dl.Attempts) == 0 {
			out = append(out, Finding{Check: CheckIncompleteLetter, OrderID: dl.OrderID,
				Detail: fmt.Sprintf("%s attempt %d merchant %q: action %q, %d attempts, rule %q, reason %q",
					dl.OrderID, dl.Attempt, dl.Merchant, dl.Action, len(dl.Attempts), dl.Rule, dl.Reason)})
		}
		byOrderAction[[2]string{dl.OrderID, dl.Action}] = true
		key := fmt.Sprintf("%s/%d/%s", dl.OrderID, dl.Attempt, dl.Merchant)
		byKey[key] = append(byKey[key], dl.DeadLetterID)
	}
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		if ids := slices.Compact(slices.Sorted(slices.Values(byKey[key]))); len(ids) > 1 {
			orderID, _, _ := strings.Cut(key, "/")
			out = append(out, Finding{Check: CheckDuplicateLetter, OrderID: orderID, Detail: fmt.Sprintf("%s: %v", key, ids)})
		}
	}
	// A second terminal is OneTerminal's finding; here the first one read decides.
	for _, k := range sortedOrders(terms) {
		if evs := terms[k]; len(evs) > 0 && evs[0].State == "dead_lettered" && !byOrderAction[[2]string{k.OrderID, evs[0].Action}] {
			out = append(out, Finding{Check: CheckMissingLetter, OrderID: k.OrderID,
				Detail: fmt.Sprintf("%s merchant %q: %s", k.OrderID, k.Merchant, evs[0])})
		}
	}
	return out
}

// Announced checks that every attempt the tracker worked on (resubmitted, placement_started,
// action_required, placed) had its submit announced (submitted or outcome_unknown) in t: the
// worker records, then emits, and a redelivery must re-emit what it recorded.
func Announced(ids []string, t *demo.Tally) []Finding {
	var out []Finding
	for _, id := range ids {
		events := t.Events(id)
		announced, tracked := map[string]bool{}, map[string]string{}
		for _, e := range events {
			parts := strings.SplitN(e, "/", 3)
			if len(parts) != 3 {
				continue
			}
			switch parts[2] {
			case "submitted", stateOutcomeUnknown:
				announced[parts[0]] = true
			case "resubmitted", "placement_started", "action_required", outcomePlaced:
				tracked[parts[0]] = e
			}
		}
		for _, att := range slices.Sorted(maps.Keys(tracked)) {
			if !announced[att] {
				out = append(out, Finding{Check: CheckUnannounced, OrderID: id,
					Detail: fmt.Sprintf("%s attempt %s: %s seen, no submitted or outcome_unknown; events %v", id, att, tracked[att], events)})
			}
		}
	}
	return out
}

// ChargedNotPlaced checks that no order of wants was charged (and not refunded) in entries
// while no merchant of it was placed: the customer paid for nothing. A 3-D Secure challenge
// the customer never completed is excepted (the sandbox records the charge at submission, but
// it waits for the challenge; the dead letter asks for it and a replay asks the provider
// first), and so is needs_attention (a person looks at it) and an unfinished order.
func ChargedNotPlaced(entries []ledger.Entry, wants map[string]demo.Scenario, t *demo.Tally) []Finding {
	var out []Finding
	sorted := slices.Clone(entries)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].OrderRef < sorted[j].OrderRef })
	for _, e := range sorted {
		orderID, _, _ := strings.Cut(e.OrderRef, "/")
		if _, ours := wants[orderID]; e.OrderRef == "" || !ours || !e.Charged || e.Refunded {
			continue
		}
		if got := t.Outcome(orderID); got != "" && !strings.Contains(got, outcomePlaced) &&
			!strings.HasPrefix(got, "needs_attention") && got != actionPaymentChallenge {
			out = append(out, Finding{Check: CheckChargedNotPlaced, OrderID: orderID,
				Detail: fmt.Sprintf("%s cart %s: order outcome %s", e.OrderRef, e.CartID, got)})
		}
	}
	return out
}

// sortedOrders returns the merchant orders of terms by order id, then merchant.
func sortedOrders(terms map[MerchantOrder][]Terminal) []MerchantOrder {
	return slices.SortedFunc(maps.Keys(terms), func(a, b MerchantOrder) int {
		return cmp.Or(cmp.Compare(a.OrderID, b.OrderID), cmp.Compare(a.Merchant, b.Merchant))
	})
}
