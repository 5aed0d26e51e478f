// Package ledger records what a sandbox provider charged, so tests can audit that no order
// attempt was submitted twice. It is shared by the Rye and Digital River sandboxes.
package ledger

import (
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Entry is one submitted cart (Rye) or consumed checkout (Digital River).
type Entry struct {
	Provider    string    `json:"provider"`
	CartID      string    `json:"cartId"`   // Rye cart id or Digital River checkout id
	OrderRef    string    `json:"orderRef"` // "order-id/attempt" as sent by the client, "" if none
	AmountCents int64     `json:"amountCents"`
	Currency    string    `json:"currency"`
	Charged     bool      `json:"charged"`  // a payment was captured
	Refunded    bool      `json:"refunded"` // placement failed and the charge was refunded
	Orders      []string  `json:"orders"`   // merchant order ids created from it
	At          time.Time `json:"at"`
}

// Ledger is safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	entries []Entry
	byCart  map[string]int
}

// New returns an empty ledger.
func New() *Ledger { return &Ledger{byCart: map[string]int{}} }

// Submit records that cart was submitted (charged when a payment was captured).
// A second Submit of the same cart id is recorded too: that is the double charge audits look for.
func (l *Ledger) Submit(e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.At.IsZero() {
		e.At = time.Now()
	}
	l.byCart[e.CartID] = len(l.entries)
	l.entries = append(l.entries, e)
}

// Refund marks the latest entry of cartID refunded.
func (l *Ledger) Refund(cartID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.byCart[cartID]; ok {
		l.entries[i].Refunded = true
	}
}

// Entries returns a copy of every entry, in submission order.
func (l *Ledger) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, len(l.entries))
	copy(out, l.entries)
	return out
}

// ByOrderRef groups entries by OrderRef.
func (l *Ledger) ByOrderRef() map[string][]Entry {
	out := map[string][]Entry{}
	for _, e := range l.Entries() {
		out[e.OrderRef] = append(out[e.OrderRef], e)
	}
	return out
}

// DoubleSubmits returns the order refs with more than one submitted cart, sorted.
func (l *Ledger) DoubleSubmits() []string {
	var refs []string
	for ref, es := range l.ByOrderRef() {
		if ref != "" && len(es) > 1 {
			refs = append(refs, ref)
		}
	}
	sort.Strings(refs)
	return refs
}

// ServeHTTP serves the entries as JSON: GET /ledger.
func (l *Ledger) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Entries []Entry `json:"entries"`
	}{l.Entries()})
}
