package demo

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/orderflow/orderflow/schemas"
)

// Tally follows orders through status events: an order is finished when every merchant of
// its request has one terminal event. Events are deduplicated by event id, as any downstream
// consumer must. It is safe for concurrent use.
type Tally struct {
	mu       sync.Mutex
	seen     map[string]bool
	orders   map[string]*tallyOrder
	finished int
	changed  chan struct{}
}

type tallyOrder struct {
	open     map[string]bool   // merchants not yet terminal
	outcomes map[string]string // merchant -> outcome
	events   []string          // states, in arrival order (for debugging tests)
}

// NewTally returns an empty Tally.
func NewTally() *Tally {
	return &Tally{seen: map[string]bool{}, orders: map[string]*tallyOrder{}, changed: make(chan struct{}, 1)}
}

// Expect registers an order before its events arrive.
func (t *Tally) Expect(o schemas.OrderRequested) {
	t.mu.Lock()
	defer t.mu.Unlock()
	to := t.order(o.OrderID)
	for _, it := range o.Items {
		if _, done := to.outcomes[it.Merchant]; !done {
			to.open[it.Merchant] = true
		}
	}
}

func (t *Tally) order(id string) *tallyOrder {
	to := t.orders[id]
	if to == nil {
		to = &tallyOrder{open: map[string]bool{}, outcomes: map[string]string{}}
		t.orders[id] = to
	}
	return to
}

// Observe applies one status event.
func (t *Tally) Observe(s schemas.OrderStatus) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[s.EventID] {
		return
	}
	t.seen[s.EventID] = true
	to := t.order(s.OrderID)
	to.events = append(to.events, fmt.Sprintf("%d/%s/%s", s.Attempt, s.Merchant, s.State))
	if !s.Terminal {
		return
	}
	wasOpen := len(to.open) > 0
	outcome := s.State
	if s.Action != "" {
		outcome += ":" + s.Action
	}
	if prev, ok := to.outcomes[s.Merchant]; ok && prev != outcome {
		to.outcomes[s.Merchant] = prev + "|" + outcome // a second, different terminal: a defect to report
	} else {
		to.outcomes[s.Merchant] = outcome
	}
	delete(to.open, s.Merchant)
	if s.Merchant == "" {
		clear(to.open)
	}
	if wasOpen && len(to.open) == 0 {
		t.finished++
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled after an event finishes an order.
func (t *Tally) Changed() <-chan struct{} { return t.changed }

// Finished is how many expected orders have finished.
func (t *Tally) Finished() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished
}

// Outcome is an order's outcome: "placed" if every merchant was placed, otherwise the
// non-placed outcomes joined with ","; "" while unfinished.
func (t *Tally) Outcome(orderID string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	to := t.orders[orderID]
	if to == nil || len(to.open) > 0 || len(to.outcomes) == 0 {
		return ""
	}
	var other []string
	for _, o := range to.outcomes {
		if o != "placed" {
			other = append(other, o)
		}
	}
	if len(other) == 0 {
		return "placed"
	}
	sort.Strings(other)
	return strings.Join(other, ",")
}

// Events returns the states seen for an order, for test failure messages.
func (t *Tally) Events(orderID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if to := t.orders[orderID]; to != nil {
		return append([]string(nil), to.events...)
	}
	return nil
}

// Counts returns finished orders by outcome.
func (t *Tally) Counts() map[string]int {
	t.mu.Lock()
	ids := make([]string, 0, len(t.orders))
	for id := range t.orders {
		ids = append(ids, id)
	}
	t.mu.Unlock()
	out := map[string]int{}
	for _, id := range ids {
		if o := t.Outcome(id); o != "" {
			out[o]++
		}
	}
	return out
}

// Summary renders Counts as one line, sorted by outcome.
func (t *Tally) Summary() string {
	c := t.Counts()
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s=%d", k, c[k])
	}
	return b.String()
}
