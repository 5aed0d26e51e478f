package rye

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// cart is the sandbox's record of one Rye cart. Guarded by Server.mu.
type cart struct {
	id        string
	createdAt time.Time
	orderRef  string // from the sandbox-only Orderflow-Order-Ref header
	buyer     *buyerIdentity
	stores    []*store // in order of first appearance in createCart

	submitCalls int       // submitCart calls that found this cart
	submitted   bool      // moved to placement; can never be submitted again
	submittedAt time.Time // placement clock origin
	charged     bool      // a payment token was captured
}

// store is one merchant of a cart: one order at placement.
type store struct {
	name            string
	orderID         string // assigned at cart creation; the order exists (PENDING) from then on
	lines           []line
	scenario        scenario // the first scenario among the store's lines
	scenarioProduct string
	outcome         outcome // decided at submission
}

type line struct {
	productID  string
	quantity   int32
	priceCents int64
}

type buyerIdentity struct {
	FirstName, LastName, Email, Phone *string
	Address1, Address2, City          *string
	ProvinceCode, PostalCode          *string
	CountryCode                       string
}

func (b *buyerIdentity) postalCode() string {
	if b == nil || b.PostalCode == nil {
		return ""
	}
	return *b.PostalCode
}

// outcomeKind is how placement of a submitted order ends.
type outcomeKind int

const (
	outcomePlaced outcomeKind = iota
	outcomeFailed
	outcomeStuck
)

type outcome struct {
	kind          outcomeKind
	reasonCode    string
	reason        string
	retryable     *bool
	paymentFailed bool // payment failed during placement: PaymentFailed instead of PaymentSucceeded/Refunded
}

func (s *store) subtotal() int64 {
	var t int64
	for _, l := range s.lines {
		t += l.priceCents * int64(l.quantity)
	}
	return t
}

func (c *cart) subtotal() int64 {
	var t int64
	for _, s := range c.stores {
		t += s.subtotal()
	}
	return t
}

func (c *cart) storeNamed(name string) *store {
	for _, s := range c.stores {
		if s.name == name {
			return s
		}
	}
	return nil
}

// addLine puts a line into its merchant's store, creating the store on first use.
func (c *cart) addLine(storeName string, sc scenario, productID string, qty int32) {
	s := c.storeNamed(storeName)
	if s == nil {
		s = &store{name: storeName, orderID: newID("order")}
		c.stores = append(c.stores, s)
	}
	if s.scenario == scenarioNone && sc != scenarioNone {
		s.scenario, s.scenarioProduct = sc, productID
	}
	for i := range s.lines {
		if s.lines[i].productID == productID {
			s.lines[i].quantity += qty
			return
		}
	}
	s.lines = append(s.lines, line{productID: productID, quantity: qty, priceCents: priceCents(productID)})
}

func (c *cart) hasScenario(sc scenario) bool {
	for _, s := range c.stores {
		if s.scenario == sc {
			return true
		}
	}
	return false
}

// event is one placement event, computed from the submission time and the clock.
type event struct {
	typename       string
	id             string
	at             time.Time
	reason         string
	reasonCode     string
	retryable      *bool
	amountCents    int64
	trackingNumber string
}

const (
	evStarted      = "OrderSubmissionStartedOrderEvent"
	evSucceeded    = "OrderSubmissionSucceededOrderEvent"
	evPlaced       = "OrderPlacedOrderEvent"
	evFailed       = "OrderFailedOrderEvent"
	evPaid         = "PaymentSucceededOrderEvent"
	evPaymentFail  = "PaymentFailedOrderEvent"
	evRefunded     = "PaymentRefundedOrderEvent"
	evTracking     = "TrackingObtainedOrderEvent"
	orderPending   = "PENDING"
	orderRunning   = "PROCESSING"
	orderSucceeded = "SUCCEEDED"
	orderFailed    = "FAILED"
)

// timeline is every event the order will ever have, with its step offset; events(now) filters it.
// Computing events lazily keeps the sandbox free of per-order goroutines.
func (c *cart) timeline(s *store, step time.Duration) []event {
	if !c.submitted {
		return nil
	}
	n := 0
	at := func(k int) time.Time { return c.submittedAt.Add(time.Duration(k) * step) }
	mk := func(typename string, k int) event {
		n++
		return event{typename: typename, id: s.orderID + "_ev" + strconv.Itoa(n), at: at(k)}
	}
	amount := s.subtotal()
	evs := []event{mk(evStarted, 1)}
	switch s.outcome.kind {
	case outcomeStuck:
		return evs
	case outcomePlaced:
		if c.charged {
			e := mk(evPaid, 2)
			e.amountCents = amount
			evs = append(evs, e)
		}
		evs = append(evs, mk(evSucceeded, 2), mk(evPlaced, 3))
		t := mk(evTracking, 4)
		t.trackingNumber = "1Z" + s.orderID
		return append(evs, t)
	}
	// outcomeFailed
	if s.outcome.paymentFailed {
		e := mk(evPaymentFail, 2)
		e.reason = s.outcome.reason
		evs = append(evs, e)
	} else if c.charged {
		e := mk(evPaid, 2)
		e.amountCents = amount
		evs = append(evs, e)
	}
	f := mk(evFailed, 3)
	f.reason, f.reasonCode, f.retryable = s.outcome.reason, s.outcome.reasonCode, s.outcome.retryable
	evs = append(evs, f)
	if c.charged && !s.outcome.paymentFailed {
		r := mk(evRefunded, 3)
		r.amountCents = amount
		evs = append(evs, r)
	}
	return evs
}

// events returns the events that have happened by now, oldest first.
func (c *cart) events(s *store, step time.Duration, now time.Time) []event {
	all := c.timeline(s, step)
	out := all[:0:0]
	for _, e := range all {
		if !e.at.After(now) {
			out = append(out, e)
		}
	}
	return out
}

// orderStatus derives an order's status from its events.
func orderStatus(evs []event) string {
	status := orderPending
	for _, e := range evs {
		switch e.typename {
		case evPlaced:
			return orderSucceeded
		case evFailed:
			return orderFailed
		default:
			status = orderRunning
		}
	}
	return status
}

// checkoutStatus summarises order statuses.
func checkoutStatus(statuses []string) string {
	var placed, failed, done int
	running := false
	for _, s := range statuses {
		switch s {
		case orderSucceeded:
			placed++
			done++
		case orderFailed:
			failed++
			done++
		case orderRunning:
			running = true
		}
	}
	switch {
	case len(statuses) > 0 && done == len(statuses) && failed == 0:
		return "SUCCEEDED"
	case len(statuses) > 0 && done == len(statuses) && placed == 0:
		return "FAILED"
	case len(statuses) > 0 && done == len(statuses):
		return "PARTIALLY_SUCCEEDED"
	case running || done > 0:
		return "PROCESSING"
	}
	return "PENDING"
}

func (c *cart) ledgerEntry() ledger.Entry {
	e := ledger.Entry{
		Provider:    "rye",
		CartID:      c.id,
		OrderRef:    c.orderRef,
		AmountCents: c.subtotal(),
		Currency:    "USD",
		Charged:     c.charged,
		At:          c.submittedAt,
	}
	for _, s := range c.stores {
		e.Orders = append(e.Orders, s.orderID)
	}
	return e
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + "_" + hex.EncodeToString(b[:])
}
