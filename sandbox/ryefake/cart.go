package ryefake

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// cart is the sandbox's record of one Rye cart. Guarded by Server.mu.
type cart struct {
	id         string
	createdAt  time.Time
	orderRef   string // from the sandbox-only Orderflow-Order-Ref header
	buyer      *buyerIdentity
	attributes *[]*attributeRes // CartCreateInput.attributes as given (nil: not given)
	unpriced   bool             // an "unpriced:" item: Cart.cost is null
	stores     []*store         // in order of first appearance in createCart

	submitCalls int       // submitCart calls that found this cart
	submitted   bool      // moved to placement; can never be submitted again
	submittedAt time.Time // placement clock origin
	charged     bool      // a payment token was captured
	refundTimed bool      // the refund of a charge no order kept is scheduled
}

// store is one merchant of a cart: one order at placement (DOCS api-reference/store: "one
// store becomes one order"; the order's id is the store's orderId).
type store struct {
	market          marketplace
	name            string
	orderID         string // assigned at cart creation; the order exists (PENDING) from then on
	lines           []line
	scenario        scenario // the first store-level scenario among the store's lines
	scenarioProduct string
	outcome         outcome // decided at submission
	// challengeShown is when a read (checkoutByCartID, order) first answered this order's
	// pending 3-D Secure challenge: the buyer can only answer a challenge a client showed them.
	challengeShown time.Time
}

type line struct {
	productID  string // exactly as sent
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

// outcomeKind is how placement of a submitted order goes.
type outcomeKind int

const (
	outcomePlaced outcomeKind = iota
	outcomeFailed
	outcomeStuck
	outcome3DSPass
	outcome3DSFail
	outcome3DSAbandon
	outcomeCancelled
	outcomeRefundPartial
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

func (c *cart) storeOf(m marketplace, name string) *store {
	for _, s := range c.stores {
		if s.market == m && s.name == name {
			return s
		}
	}
	return nil
}

// addLine puts a line into its store, creating the store (and its order id) on first use.
func (c *cart) addLine(m marketplace, storeName string, sc scenario, productID string, qty int32) {
	s := c.storeOf(m, storeName)
	if s == nil {
		s = &store{market: m, name: storeName, orderID: newID("order")}
		c.stores = append(c.stores, s)
	}
	if s.scenario == scenarioNone && sc != scenarioNone && !sc.itemLevel() {
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

// Event type names: the OrderEvent implementations (SDK-2024; RefundCreatedOrderEvent: DOCS).
const (
	evStarted         = "OrderSubmissionStartedOrderEvent"
	evSucceeded       = "OrderSubmissionSucceededOrderEvent"
	evPlaced          = "OrderPlacedOrderEvent"
	evFailed          = "OrderFailedOrderEvent"
	evPaid            = "PaymentSucceededOrderEvent"
	evPaymentFail     = "PaymentFailedOrderEvent"
	evRefunded        = "PaymentRefundedOrderEvent"
	evTracking        = "TrackingObtainedOrderEvent"
	evCancelStarted   = "OrderCancelStartedOrderEvent"
	evCancelSucceeded = "OrderCancelSucceededOrderEvent"
	evCancelFailed    = "OrderCancelFailedOrderEvent"
	evRefundCreated   = "RefundCreatedOrderEvent"
)

// OrderStatus values (SDK-2024) the sandbox produces.
const (
	orderPending     = "PENDING"
	orderRunning     = "PROCESSING"
	orderAction      = "ACTION_REQUIRED"
	orderSucceeded   = "SUCCEEDED"
	orderFailed      = "FAILED"
	orderCancelling  = "CANCELLATION_IN_PROGRESS"
	orderCancelledSt = "CANCELLED"
)

// event is one placement event, computed from the submission time and the clock.
type event struct {
	typename    string
	id          string
	at          time.Time
	reason      string
	reasonCode  string
	retryable   *bool
	amountCents int64
}

// plan is everything an order will ever go through after submission, on the placement clock,
// as far as it is decided: a 3-D Secure challenge nobody was shown yet is pending, and what
// follows its answer is not in the plan. Computing it lazily from the submission time keeps
// the sandbox free of per-order goroutines.
type plan struct {
	events []event
	// A 3-D Secure challenge is pending from challengeFrom until challengeUntil (zero: not
	// answered, so far or forever).
	challengeFrom, challengeUntil time.Time
	// endAt is when a charge that placement did not keep is refunded (zero: it is kept, or
	// undecided while awaiting the buyer).
	endAt time.Time
	// awaitingBuyer: the order's end waits for the buyer to answer the challenge they were
	// not shown yet (endAt is unknown).
	awaitingBuyer bool
}

const (
	threeDSFrom  = 1 // steps: the challenge appears with OrderSubmissionStarted
	threeDSUntil = 5 // and is answered (passed or failed) at +5 at the earliest,
	// and never before threeDSAnswer steps after a read first showed it.
	threeDSAnswer = 1
)

// challengeAnswered is when the buyer answers s's 3-D Secure challenge: at +threeDSUntil, but
// not before threeDSAnswer steps after a read first showed the challenge; zero while nobody was
// shown it. Real Rye holds an order in ACTION_REQUIRED until the buyer completes the challenge
// (DOCS 3ds-challenge: "Once the end buyer completes the challenge, Rye will continue with
// order processing"); tying the answer to the first read keeps the challenge observable
// however slowly a client polls.
func (c *cart) challengeAnswered(s *store, step time.Duration) time.Time {
	if s.challengeShown.IsZero() {
		return time.Time{}
	}
	earliest := c.submittedAt.Add(threeDSUntil * step)
	return maxTime(earliest, s.challengeShown.Add(threeDSAnswer*step))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (c *cart) plan(s *store, step time.Duration) plan {
	var p plan
	if !c.submitted {
		return p
	}
	n := 0
	// base is the origin of the steps k: the submission, or the challenge's answer.
	base := c.submittedAt
	at := func(k int) time.Time { return base.Add(time.Duration(k) * step) }
	add := func(typename string, k int) *event {
		n++
		p.events = append(p.events, event{typename: typename, id: s.orderID + "_ev" + strconv.Itoa(n), at: at(k)})
		return &p.events[len(p.events)-1]
	}
	paid := func(k int) {
		if c.charged {
			add(evPaid, k).amountCents = s.subtotal()
		}
	}
	placed := func(k int) { // PaymentSucceeded and SubmissionSucceeded at k, Placed at k+1
		paid(k)
		add(evSucceeded, k)
		add(evPlaced, k+1)
	}
	// challenge starts the 3-D Secure challenge and, once it is answered, moves base to the
	// answer; false while it is not.
	challenge := func() bool {
		p.challengeFrom = at(threeDSFrom)
		answered := c.challengeAnswered(s, step)
		if answered.IsZero() {
			p.awaitingBuyer = true
			return false
		}
		p.challengeUntil, base = answered, answered
		return true
	}
	add(evStarted, 1)
	switch s.outcome.kind {
	case outcomeStuck:
	case outcomePlaced:
		placed(2)
		add(evTracking, 4)
	case outcomeRefundPartial:
		placed(2)
		add(evTracking, 4)
		add(evRefundCreated, 4).amountCents = max(s.subtotal()/2, 1)
	case outcomeCancelled:
		placed(2)
		add(evCancelStarted, 4)
		add(evCancelSucceeded, 5)
		if c.charged {
			add(evRefunded, 5).amountCents = s.subtotal()
		}
		p.endAt = at(5)
	case outcome3DSPass:
		if challenge() {
			placed(0)
			add(evTracking, 2)
		}
	case outcome3DSAbandon:
		p.challengeFrom = at(threeDSFrom)
	case outcome3DSFail:
		if challenge() {
			add(evPaymentFail, 0)
			f := add(evFailed, 0)
			f.reason, f.reasonCode, f.retryable = s.outcome.reason, s.outcome.reasonCode, s.outcome.retryable
			p.endAt = at(0)
		}
	case outcomeFailed:
		if s.outcome.paymentFailed {
			add(evPaymentFail, 2)
		} else {
			paid(2)
		}
		f := add(evFailed, 3)
		f.reason, f.reasonCode, f.retryable = s.outcome.reason, s.outcome.reasonCode, s.outcome.retryable
		if c.charged && !s.outcome.paymentFailed {
			add(evRefunded, 3).amountCents = s.subtotal()
		}
		p.endAt = at(3)
	}
	return p
}

// refundAt is when the charge of a cart no order kept is refunded: when its last order ends.
// ok is false when there is nothing to refund (not charged, or an order keeps the charge) or
// the time is not decided yet (an order awaits the buyer).
func (c *cart) refundAt(step time.Duration) (at time.Time, ok bool) {
	if !c.charged {
		return time.Time{}, false
	}
	for _, s := range c.stores {
		p := c.plan(s, step)
		if p.awaitingBuyer || p.endAt.IsZero() {
			return time.Time{}, false
		}
		at = maxTime(at, p.endAt)
	}
	return at, true
}

// orderState is an order as seen at one instant.
type orderState struct {
	events    []event
	status    string
	challenge bool // a CompletePaymentChallenge is pending
	placed    bool // OrderPlacedOrderEvent happened: marketplace order ids exist
	tracked   bool // TrackingObtainedOrderEvent happened: there is a shipment
}

func (c *cart) stateAt(s *store, step time.Duration, now time.Time) orderState {
	p := c.plan(s, step)
	var st orderState
	for _, e := range p.events {
		if !e.at.After(now) {
			st.events = append(st.events, e)
		}
	}
	st.challenge = !p.challengeFrom.IsZero() && !p.challengeFrom.After(now) &&
		(p.challengeUntil.IsZero() || now.Before(p.challengeUntil))
	st.status = orderPending
	for _, e := range st.events {
		switch e.typename {
		case evStarted, evSucceeded:
			if st.status == orderPending {
				st.status = orderRunning
			}
		case evPlaced:
			st.status, st.placed = orderSucceeded, true
		case evFailed:
			st.status = orderFailed
		case evCancelStarted:
			st.status = orderCancelling
		case evCancelSucceeded:
			st.status = orderCancelledSt
		case evCancelFailed:
			st.status = orderSucceeded
		case evTracking:
			st.tracked = true
		}
	}
	if st.challenge {
		// DOCS (checkoutByCartID example): an order awaiting 3-D Secure is ACTION_REQUIRED
		// with requiredActions [CompletePaymentChallenge{redirectURL}].
		st.status = orderAction
	}
	return st
}

// checkoutStatus summarises order statuses into a CheckoutStatus. The values are SDK-2024 and
// DOCS (api-reference/checkoutstatus); how Rye combines orders into one is not documented, so
// this folding is the sandbox's: any ACTION_REQUIRED wins, then CANCELLATION_IN_PROGRESS; when
// every order is final: all alike gives that status, succeeded and failed gives
// PARTIALLY_SUCCEEDED, other mixes (with CANCELLED) MIXED; otherwise PROCESSING once anything
// moved, else PENDING.
func checkoutStatus(statuses []string) string {
	count := map[string]int{}
	for _, s := range statuses {
		count[s]++
	}
	final := count[orderSucceeded] + count[orderFailed] + count[orderCancelledSt]
	switch {
	case len(statuses) == 0:
		return "PENDING"
	case count[orderAction] > 0:
		return "ACTION_REQUIRED"
	case count[orderCancelling] > 0:
		return "CANCELLATION_IN_PROGRESS"
	case final == len(statuses):
		switch len(statuses) {
		case count[orderSucceeded]:
			return "SUCCEEDED"
		case count[orderFailed]:
			return "FAILED"
		case count[orderCancelledSt]:
			return "CANCELLED"
		case count[orderSucceeded] + count[orderFailed]:
			return "PARTIALLY_SUCCEEDED"
		}
		return "MIXED"
	case count[orderPending] < len(statuses):
		return "PROCESSING"
	}
	return "PENDING"
}

// marketplaceOrderID is the id the marketplace gave the placed order: Amazon's
// "ddd-ddddddd-ddddddd" form, or a Shopify numeric order id. Derived from the order id.
func marketplaceOrderID(s *store) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s.orderID))
	v := h.Sum64()
	if s.market == marketplaceAmazon {
		return fmt.Sprintf("%03d-%07d-%07d", 100+v%900, (v/1000)%10000000, (v/1e10)%10000000)
	}
	return strconv.FormatUint(5e12+v%1e12, 10)
}

// trackingNumber is the shipment's carrier tracking number (UPS "1Z" form).
func trackingNumber(s *store) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte("track:" + s.orderID))
	return fmt.Sprintf("1Z%016X", h.Sum64())
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
