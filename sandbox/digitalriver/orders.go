package digitalriver

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// Order states the sandbox produces.
const (
	statePendingPayment = "pending_payment"
	stateInReview       = "in_review"
	stateAccepted       = "accepted"
	stateBlocked        = "blocked"
)

// scenario is what the "<scenario>:" prefixes of a checkout's sku ids ask for.
type scenario struct {
	badTax, timeoutCreated, serverError1, review, fraudBlocked bool
}

func scenarioOf(items []lineItem) scenario {
	var sc scenario
	for _, it := range items {
		name, _, ok := strings.Cut(it.skuID, ":")
		if !ok {
			continue
		}
		switch name {
		case "bad-tax":
			sc.badTax = true
		case "timeout-created":
			sc.timeoutCreated = true
		case "server-error-1":
			sc.serverError1 = true
		case "review":
			sc.review = true
		case "fraud-blocked":
			sc.fraudBlocked = true
		}
	}
	return sc
}

// stage is a state an order enters `after` its creation.
type stage struct {
	state string
	after time.Duration
}

// order is a created order. Its state is a pure function of its plan and the clock, so a reader
// never sees a state the plan skips; settle does the side effects (the refund) exactly once.
type order struct {
	id, checkoutID, upstreamID, currency, email string
	shipTo, billTo                              *contact
	items                                       []lineItem
	metadata                                    map[string]any
	chargeID                                    string
	created                                     time.Time
	plan                                        []stage
	settled                                     bool
}

func planFor(sc scenario, step time.Duration) []stage {
	switch {
	case sc.fraudBlocked:
		return []stage{{statePendingPayment, 0}, {stateBlocked, step}}
	case sc.review:
		return []stage{{stateInReview, 0}, {stateAccepted, 2 * step}}
	}
	return []stage{{statePendingPayment, 0}, {stateAccepted, step}}
}

func (o *order) stateAt(now time.Time) (string, time.Time) {
	st := o.plan[0]
	for _, s := range o.plan[1:] {
		if now.Sub(o.created) >= s.after {
			st = s
		}
	}
	return st.state, o.created.Add(st.after)
}

func (o *order) total() int64 {
	var t int64
	for _, it := range o.items {
		t += it.price * int64(it.quantity)
	}
	return t
}

func chargeState(orderState string) string {
	switch orderState {
	case stateAccepted:
		return "capturable"
	case stateBlocked:
		return "cancelled"
	}
	return "pending"
}

func (o *order) json(now time.Time) orderJSON {
	state, updated := o.stateAt(now)
	items, total := itemsJSON(o.items)
	return orderJSON{
		ID: o.id, CheckoutID: o.checkoutID, UpstreamID: o.upstreamID, State: state, Currency: o.currency,
		Email: o.email, ShipTo: o.shipTo, BillTo: o.billTo, Items: items, TotalAmount: amount(total),
		Charges:  []chargeJSON{{ID: o.chargeID, Amount: amount(total), State: chargeState(state)}},
		Metadata: o.metadata, CreatedTime: o.created, UpdatedTime: updated,
	}
}

// settleLocked refunds a blocked order in the ledger once. s.mu must be held.
func (s *sandbox) settleLocked(o *order, now time.Time) {
	if o.settled {
		return
	}
	if state, _ := o.stateAt(now); state == stateBlocked {
		o.settled = true
		s.ledger.Refund(o.checkoutID)
	}
}

// createOrder is POST /orders: the call that consumes a checkout and charges. The checks run in a
// fixed order: unknown or consumed checkout (404), server-error-1 (500, nothing created), payment
// session gate (400 order_submit_failed), declined source (409), bad-tax (400 order_create_failed),
// then the order is created and the checkout deleted; timeout-created and TimeoutRate answer 504
// after that.
func (s *sandbox) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.CheckoutID == "" {
		writeError(w, newError(http.StatusBadRequest, typeBadRequest, "missing_parameter", "checkoutId", "checkoutId is required."))
		return
	}
	now := time.Now().UTC()

	s.mu.Lock()
	c, ok := s.checkouts[req.CheckoutID]
	if !ok {
		s.mu.Unlock()
		writeError(w, notFound("checkoutId", "Checkout", req.CheckoutID))
		return
	}
	c.submits++
	sc := scenarioOf(c.items)
	session := c.session()
	var e *apiError
	switch {
	case sc.serverError1 && c.submits == 1:
		e = newError(http.StatusInternalServerError, typeInternalError, "internal-error", "", "An internal error occurred.")
	case session.State != sessionRequiresConfirmation || session.AmountRemainingToBeContributed != 0:
		e = newError(http.StatusBadRequest, typeBadRequest, "order_submit_failed", "checkoutId",
			"The payment session is %s; an order needs requires_confirmation with nothing left to contribute.", session.State)
	case c.declined || strings.HasPrefix(c.sourceID, sourceDeclined):
		// Once declined, a checkout stays unusable even with a new source: the seed asks for a new checkout.
		c.declined = true
		e = newError(http.StatusConflict, typeConflict, "failed-request", "", "charge declined: insufficient funds")
	case sc.badTax && !c.shipToUpdated:
		e = newError(http.StatusBadRequest, typeBadRequest, "order_create_failed", "shipTo",
			"Tax could not be calculated for the shipping address; update shipTo and resubmit.")
	}
	if e != nil {
		s.mu.Unlock()
		writeError(w, e)
		return
	}

	o := &order{
		id: newID("ord_"), checkoutID: c.id, upstreamID: c.upstreamID, currency: c.currency, email: c.email,
		shipTo: c.shipTo, billTo: c.billTo, items: slices.Clone(c.items), metadata: maps.Clone(c.metadata),
		chargeID: newID("chg_"), created: now, plan: planFor(sc, s.cfg.PlacementStep),
	}
	delete(s.checkouts, c.id)
	s.orders[o.id] = o
	s.orderSeq = append(s.orderSeq, o)
	s.ledger.Submit(ledger.Entry{
		Provider: ProviderName, CartID: c.id, OrderRef: c.upstreamID, AmountCents: o.total(),
		Currency: c.currency, Charged: true, Orders: []string{o.id}, At: now,
	})
	body := o.json(now)
	s.mu.Unlock()

	// The refund must reach the ledger even if nobody reads the order again.
	if last := o.plan[len(o.plan)-1]; last.state == stateBlocked {
		time.AfterFunc(last.after, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.settleLocked(o, time.Now())
		})
	}

	if sc.timeoutCreated || s.chance(s.cfg.TimeoutRate) {
		writeError(w, gatewayTimeout())
		return
	}
	writeJSON(w, http.StatusCreated, body)
}

func (s *sandbox) getOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	now := time.Now()
	s.mu.Lock()
	o, ok := s.orders[id]
	var body orderJSON
	if ok {
		s.settleLocked(o, now)
		body = o.json(now)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("id", "Order", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// listOrders is GET /orders, filtered by the checkoutId and upstreamId query parameters (both
// optional, combined with AND), oldest first.
func (s *sandbox) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	checkoutID, upstreamID := q.Get("checkoutId"), q.Get("upstreamId")
	now := time.Now()
	out := orderList{Data: []orderJSON{}}
	s.mu.Lock()
	for _, o := range s.orderSeq {
		if (checkoutID != "" && o.checkoutID != checkoutID) || (upstreamID != "" && o.upstreamID != upstreamID) {
			continue
		}
		s.settleLocked(o, now)
		out.Data = append(out.Data, o.json(now))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}
