package drfake

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// Order states the sandbox produces ("The order lifecycle",
// order-management/orders/the-order-lifecycle).
const (
	statePendingPayment = "pending_payment"
	stateInReview       = "in_review"
	stateAccepted       = "accepted"
	stateBlocked        = "blocked"
	stateCancelled      = "cancelled"
	stateFulfilled      = "fulfilled"
	stateComplete       = "complete"
)

// scenario is what the "<scenario>:" prefixes of a checkout's product ids (skuId or
// productDetails.id) ask for.
type scenario struct {
	badTax, timeoutCreated, serverError1, review, fraudBlocked, fulfilled bool
	reusedStatus                                                          int // 0: Config.ReusedCheckoutStatus
}

func scenarioOf(items []lineItem) scenario {
	var sc scenario
	for _, it := range items {
		name, _, ok := strings.Cut(it.productID(), ":")
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
		case "fulfilled":
			sc.fulfilled = true
		case "reused-404", "reused-409", "reused-400":
			sc.reusedStatus, _ = strconv.Atoi(strings.TrimPrefix(name, "reused-"))
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
	customerID, locale, browserIP               string
	shipTo, billTo                              *contact
	items                                       []lineItem
	metadata                                    map[string]any
	chargeID, sourceID, sessionID               string
	delayed                                     bool // a receiver-flow source: funds are pushed later
	created                                     time.Time
	plan                                        []stage
	settled                                     bool
}

// planFor is the order's life. A delayed (receiver-flow) source leaves the order pending_payment
// with payment.session pending_funds until the customer pushes the funds (accepted after 3 steps)
// or never does (src_pending_funds_never: the source expires and the order is cancelled, "Processing
// orders", "The order cancelled event").
func planFor(sc scenario, sourceID string, step time.Duration) []stage {
	switch {
	case strings.HasPrefix(sourceID, sourcePendingFundsNever):
		return []stage{{statePendingPayment, 0}, {stateCancelled, 3 * step}}
	case strings.HasPrefix(sourceID, sourcePendingFunds):
		return []stage{{statePendingPayment, 0}, {stateAccepted, 3 * step}}
	case sc.fraudBlocked:
		return []stage{{statePendingPayment, 0}, {stateBlocked, step}}
	case sc.review:
		return []stage{{stateInReview, 0}, {stateAccepted, 2 * step}}
	case sc.fulfilled:
		return []stage{{statePendingPayment, 0}, {stateAccepted, step}, {stateFulfilled, 2 * step}, {stateComplete, 3 * step}}
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

func (o *order) total() int64 { return totalOf(o.items) }

// chargeState is the state of the order's charge ("Charges", "The charge lifecycle"): pending
// until authorized, capturable once the order is accepted, complete once captured, cancelled with
// a blocked order.
func chargeState(orderState string) string {
	switch orderState {
	case stateInReview, stateAccepted, stateFulfilled:
		return "capturable"
	case stateComplete:
		return "complete"
	case stateBlocked, stateCancelled:
		return "cancelled"
	}
	return "pending"
}

// fraudState is "The order lifecycle", "Fraud review": review_opened, blocked or passed.
func fraudState(orderState string) string {
	switch orderState {
	case stateInReview:
		return "review_opened"
	case stateBlocked:
		return "blocked"
	}
	return "passed"
}

// session is the order's payment session ("Payment sessions"): pending_funds with the instructions
// to show while a delayed payment waits for the customer's funds, pending while the charge is not
// yet authorized, complete once it is capturable.
func (o *order) session(state string) sessionJSON {
	ss := sessionJSON{ID: o.sessionID, State: sessionComplete, AmountContributed: amount(o.total())}
	switch {
	case o.delayed && (state == statePendingPayment || state == stateCancelled):
		ss.State = sessionPendingFunds
		ss.NextAction = &nextActionJSON{Action: "show_payment_instructions",
			Data: map[string]any{"amount": amount(o.total()), "currency": o.currency}}
	case state == statePendingPayment:
		ss.State = sessionPending
	}
	return ss
}

func (o *order) json(now time.Time) orderJSON {
	state, updated := o.stateAt(now)
	total := o.total()
	transitions := map[string]time.Time{}
	for _, s := range o.plan {
		if now.Sub(o.created) >= s.after {
			transitions[s.state] = o.created.Add(s.after)
		}
	}
	out := orderJSON{
		ID: o.id, CheckoutID: o.checkoutID, UpstreamID: o.upstreamID, CustomerID: o.customerID, State: state,
		StateTransitions: transitions, FraudState: fraudState(state), Currency: o.currency,
		Email: o.email, ShipTo: o.shipTo, BillTo: o.billTo, Items: itemsJSON(o.items),
		Subtotal: amount(total), TotalAmount: amount(total),
		Payment: orderPaymentJSON{Charges: []chargeJSON{}, Sources: []sourceJSON{}, Session: o.session(state)},
		Locale:  o.locale, BrowserIP: o.browserIP, Metadata: o.metadata, CreatedTime: o.created, UpdatedTime: updated,
	}
	src := sourceJSON{ID: o.sourceID, Type: "creditCard", Amount: amount(total), State: "chargeable", Flow: "standard"}
	if o.delayed {
		src.Type, src.State, src.Flow = "wireTransfer", sessionPendingFunds, "receiver"
	}
	if o.sourceID != "" {
		out.Payment.Sources = append(out.Payment.Sources, src)
	}
	// A delayed payment has no charge until the funds arrive; one that never arrives never has one.
	if !o.delayed || state == stateAccepted {
		cs := chargeState(state)
		out.Payment.Charges = append(out.Payment.Charges, chargeJSON{
			ID: o.chargeID, CreatedTime: o.created, Currency: o.currency, Amount: amount(total), State: cs,
			Captured: cs == "complete", SourceID: o.sourceID, Type: "customer_initiated",
		})
	}
	return out
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

// reusedStatus is the status a consumed checkout answers with: its "reused-<status>:" trigger, or
// Config.ReusedCheckoutStatus.
func (s *sandbox) reusedStatus(o *order) int {
	if st := scenarioOf(o.items).reusedStatus; st != 0 {
		return st
	}
	return s.cfg.ReusedCheckoutStatus
}

// reusedError is the answer to a request that would reuse the checkout consumed by order o (see
// ReusedCheckoutStatuses). param is the request's parameter naming the checkout.
func (s *sandbox) reusedError(o *order, param string) *apiError {
	switch s.reusedStatus(o) {
	case http.StatusConflict:
		return newError(http.StatusConflict, typeConflict, codeFailedRequest, "", "Checkout %s has already been submitted.", o.checkoutID)
	case http.StatusBadRequest:
		return newError(http.StatusBadRequest, typeBadRequest, codeOrderSubmitFailed, "", "Payment session status is invalid.")
	}
	if param == "checkoutId" { // POST /orders: the documented body, verbatim in shape
		return newError(http.StatusNotFound, typeNotFound, codeNotFound, "orderId", "Order %s not found", o.id)
	}
	return notFound(param, "Checkout", o.checkoutID)
}

// createOrder is POST /orders: the call that consumes a checkout and charges. The checks run in a
// fixed order: unknown checkout (404), consumed checkout (the reused-checkout status),
// server-error-1 (500, nothing created), payment session gate (400 order_submit_failed), declined
// source (409), bad-tax (400 order_create_failed), then the order is created and the checkout
// consumed; timeout-created and TimeoutRate answer 504 after that.
func (s *sandbox) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if e := decodeLenient(r, &req); e != nil {
		writeError(w, e)
		return
	}
	if req.CheckoutID == "" {
		writeError(w, newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, "checkoutId", "checkoutId is required."))
		return
	}
	now := time.Now().UTC()

	s.mu.Lock()
	c, ok := s.checkouts[req.CheckoutID]
	if !ok {
		consumedBy := s.consumed[req.CheckoutID]
		s.mu.Unlock()
		if consumedBy != nil {
			writeError(w, s.reusedError(consumedBy, "checkoutId"))
			return
		}
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
		e = newError(http.StatusBadRequest, typeBadRequest, codeOrderSubmitFailed, "",
			"Payment session status is invalid.")
	case c.declined || strings.HasPrefix(c.sourceID, sourceDeclined):
		// Once declined, a checkout stays unusable even with a new source: the seed asks for a new checkout.
		c.declined = true
		e = newError(http.StatusConflict, typeConflict, codeFailedRequest, "", "charge declined: insufficient funds")
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
		customerID: c.customerID, locale: c.locale, browserIP: c.browserIP,
		shipTo: c.shipTo, billTo: c.billTo, items: slices.Clone(c.items), metadata: maps.Clone(c.metadata),
		chargeID: newID("chg_"), sourceID: c.sourceID, sessionID: c.sessionID, delayed: c.delayedSource(),
		created: now, plan: planFor(sc, c.sourceID, s.cfg.PlacementStep),
	}
	delete(s.checkouts, c.id)
	s.consumed[c.id] = o
	s.orders[o.id] = o
	s.orderSeq = append(s.orderSeq, o)
	// A delayed payment that will never be funded collects nothing.
	charged := !strings.HasPrefix(c.sourceID, sourcePendingFundsNever)
	s.ledger.Submit(ledger.Entry{
		Provider: ProviderName, CartID: c.id, OrderRef: c.upstreamID, AmountCents: o.total(),
		Currency: c.currency, Charged: charged, Orders: []string{o.id}, At: now,
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

// Order list paging ("Pagination" of the API reference's list operations): limit 1-100, default 10.
const (
	defaultListLimit = 10
	maxListLimit     = 100
)

// listValues returns a list query parameter given repeated (ids=a&ids=b), with the brackets some
// clients add (ids[]=a), or comma-separated (ids=a,b).
func listValues(q map[string][]string, name string) []string {
	var out []string
	for _, v := range append(slices.Clone(q[name]), q[name+"[]"]...) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// listOrders is GET /orders with the list filters of the orders API (2021-12-13 reference):
// checkoutId ("Only return orders for the given checkout"), ids, upstreamIds, state, email and
// customerId, combined with AND; limit (1-100, default 10) with startingAfter / endingBefore (order
// ids) paging and hasMore. Oldest first. Unknown parameters are ignored.
func (s *sandbox) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeError(w, newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "limit", "limit must be between 1 and %d.", maxListLimit))
			return
		}
		limit = n
	}
	checkoutID, state, email, customerID := q.Get("checkoutId"), q.Get("state"), q.Get("email"), q.Get("customerId")
	ids, upstreamIDs := listValues(q, "ids"), listValues(q, "upstreamIds")
	after, before := q.Get("startingAfter"), q.Get("endingBefore")
	now := time.Now()
	out := orderList{Data: []orderJSON{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []*order
	for _, o := range s.orderSeq {
		st, _ := o.stateAt(now)
		if (checkoutID != "" && o.checkoutID != checkoutID) || (state != "" && st != state) ||
			(email != "" && o.email != email) || (customerID != "" && o.customerID != customerID) ||
			(len(ids) > 0 && !slices.Contains(ids, o.id)) || (len(upstreamIDs) > 0 && !slices.Contains(upstreamIDs, o.upstreamID)) {
			continue
		}
		match = append(match, o)
	}
	start, end := 0, len(match)
	if after != "" {
		if i := slices.IndexFunc(match, func(o *order) bool { return o.id == after }); i >= 0 {
			start = i + 1
		}
	}
	if before != "" {
		if i := slices.IndexFunc(match, func(o *order) bool { return o.id == before }); i >= 0 {
			end = i
		}
	}
	if start > end {
		start = end
	}
	page := match[start:end]
	if before != "" && after == "" && len(page) > limit {
		page = page[len(page)-limit:] // the page just before endingBefore
		out.HasMore = true
	} else if len(page) > limit {
		page, out.HasMore = page[:limit], true
	}
	for _, o := range page {
		s.settleLocked(o, now)
		out.Data = append(out.Data, o.json(now))
	}
	writeJSON(w, http.StatusOK, out)
}
