package digitalriver

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Payment session states (Digital River API 2021-03-23 and later) the sandbox produces.
const (
	sessionRequiresSource       = "requires_source"
	sessionRequiresConfirmation = "requires_confirmation"
	sessionPendingFunds         = "pending_funds"
)

// Source ids that trigger scenarios; see the package doc.
const (
	sourceDeclined     = "src_declined"
	sourcePendingFunds = "src_pending_funds"
)

type lineItem struct {
	skuID    string
	quantity int
	price    int64 // cents
}

type checkout struct {
	id, upstreamID, currency, email string
	shipTo, billTo                  *contact
	items                           []lineItem
	metadata                        map[string]any
	sourceID                        string // primary payment source, "" if none
	sessionID                       string
	created, updated                time.Time

	shipToUpdated bool // a POST /checkouts/{id} set shipTo: the bad-tax scenario is fixed
	declined      bool // a POST /orders was declined (409): this checkout can never become an order
	submits       int  // POST /orders attempts that found this checkout
}

func (c *checkout) total() int64 {
	var t int64
	for _, it := range c.items {
		t += it.price * int64(it.quantity)
	}
	return t
}

// session derives the payment session from the attached source. A source covers the whole amount;
// a pending-funds source covers it too, but leaves the session in pending_funds, so a client must
// check the state and not only amountRemainingToBeContributed.
func (c *checkout) session() sessionJSON {
	total := c.total()
	ss := sessionJSON{ID: c.sessionID, AmountRemainingToBeContributed: amount(total)}
	switch {
	case c.sourceID != "" && strings.HasPrefix(c.sourceID, sourcePendingFunds):
		ss.State = sessionPendingFunds
		ss.AmountContributed, ss.AmountRemainingToBeContributed = amount(total), 0
	case c.sourceID != "" || total == 0:
		ss.State = sessionRequiresConfirmation
		ss.AmountContributed, ss.AmountRemainingToBeContributed = amount(total), 0
	default:
		ss.State = sessionRequiresSource
	}
	return ss
}

func (c *checkout) source() (sourceJSON, bool) {
	if c.sourceID == "" {
		return sourceJSON{}, false
	}
	state := "chargeable"
	if strings.HasPrefix(c.sourceID, sourcePendingFunds) {
		state = sessionPendingFunds
	}
	return sourceJSON{ID: c.sourceID, Type: "creditCard", Amount: amount(c.total()), State: state}, true
}

func (c *checkout) json() checkoutJSON {
	items, total := itemsJSON(c.items)
	out := checkoutJSON{
		ID: c.id, UpstreamID: c.upstreamID, Currency: c.currency, Email: c.email,
		ShipTo: c.shipTo, BillTo: c.billTo, Items: items, Subtotal: amount(total), TotalAmount: amount(total),
		Payment:  paymentJSON{Sources: []sourceJSON{}, Session: c.session()},
		Metadata: c.metadata, CreatedTime: c.created, UpdatedTime: c.updated,
	}
	if src, ok := c.source(); ok {
		out.Payment.Sources = append(out.Payment.Sources, src)
	}
	return out
}

func itemsJSON(items []lineItem) ([]itemJSON, int64) {
	out := make([]itemJSON, len(items))
	var total int64
	for i, it := range items {
		a := it.price * int64(it.quantity)
		out[i] = itemJSON{SKUID: it.skuID, Quantity: it.quantity, Price: amount(it.price), Amount: amount(a)}
		total += a
	}
	return out, total
}

// decode reads a strict JSON body: unknown fields are a 400, so a client's typo does not pass silently.
func decode(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusBadRequest, typeBadRequest, "invalid_request", "", "Request body exceeds %d bytes.", tooBig.Limit)
		}
		return newError(http.StatusBadRequest, typeBadRequest, "invalid_request", "", "Request body is not valid: %s.", jsonProblem(err))
	}
	if dec.More() {
		return newError(http.StatusBadRequest, typeBadRequest, "invalid_request", "", "Request body holds more than one JSON value.")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing request content.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q has the wrong type", typeErr.Field)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at offset %d", syntaxErr.Offset)
	case errors.Is(err, errAmount):
		return errAmount.Error()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed JSON"
}

func validItems(in []itemRequest) ([]lineItem, *apiError) {
	if len(in) == 0 {
		return nil, newError(http.StatusBadRequest, typeBadRequest, "missing_parameter", "items", "A checkout needs at least one item.")
	}
	if len(in) > maxItems {
		return nil, newError(http.StatusBadRequest, typeBadRequest, "invalid_parameter", "items", "A checkout holds at most %d items.", maxItems)
	}
	out := make([]lineItem, len(in))
	for i, it := range in {
		param := func(f string) string { return fmt.Sprintf("items[%d].%s", i, f) }
		switch {
		case it.SKUID == "":
			return nil, newError(http.StatusBadRequest, typeBadRequest, "missing_parameter", param("skuId"), "skuId is required.")
		case it.Quantity < 1 || it.Quantity > maxQuantity:
			return nil, newError(http.StatusBadRequest, typeBadRequest, "invalid_parameter", param("quantity"), "quantity must be between 1 and %d.", maxQuantity)
		case it.Price < 0 || it.Price > maxPrice:
			return nil, newError(http.StatusBadRequest, typeBadRequest, "invalid_parameter", param("price"), "price is out of range.")
		}
		out[i] = lineItem{skuID: it.SKUID, quantity: it.Quantity, price: int64(it.Price)}
	}
	return out, nil
}

func validContact(param string, c *contact) *apiError {
	if c != nil && c.Address.Country == "" {
		return newError(http.StatusBadRequest, typeBadRequest, "missing_parameter", param+".address.country", "country is required.")
	}
	return nil
}

func validCurrency(cur string) bool {
	if len(cur) != 3 {
		return false
	}
	for _, r := range cur {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func (s *sandbox) createCheckout(w http.ResponseWriter, r *http.Request) {
	var req checkoutRequest
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	items, e := validItems(req.Items)
	if e == nil {
		e = validContact("shipTo", req.ShipTo)
	}
	if e == nil {
		e = validContact("billTo", req.BillTo)
	}
	if req.Currency == "" {
		req.Currency = "USD"
	}
	if e == nil && !validCurrency(req.Currency) {
		e = newError(http.StatusBadRequest, typeBadRequest, "invalid_parameter", "currency", "currency must be an ISO 4217 code.")
	}
	if e != nil {
		writeError(w, e)
		return
	}
	now := time.Now().UTC()
	c := &checkout{
		id: newID("chk_"), upstreamID: req.UpstreamID, currency: req.Currency, email: req.Email,
		shipTo: req.ShipTo, billTo: req.BillTo, items: items, metadata: maps.Clone(req.Metadata),
		sourceID: req.SourceID, sessionID: newID("ps_"), created: now, updated: now,
	}
	s.mu.Lock()
	s.checkouts[c.id] = c
	body := c.json()
	s.mu.Unlock()
	if s.chance(s.cfg.TimeoutRate) {
		writeError(w, gatewayTimeout())
		return
	}
	writeJSON(w, http.StatusCreated, body)
}

func (s *sandbox) getCheckout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	c, ok := s.checkouts[id]
	var body checkoutJSON
	if ok {
		body = c.json()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("id", "Checkout", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *sandbox) updateCheckout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req checkoutUpdate
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	var items []lineItem
	var e *apiError
	if req.Items != nil {
		items, e = validItems(*req.Items)
	}
	if e == nil {
		e = validContact("shipTo", req.ShipTo)
	}
	if e == nil {
		e = validContact("billTo", req.BillTo)
	}
	if e != nil {
		writeError(w, e)
		return
	}

	s.mu.Lock()
	c, ok := s.checkouts[id]
	var body checkoutJSON
	if ok {
		if req.Items != nil {
			c.items = items
		}
		if req.Email != nil {
			c.email = *req.Email
		}
		if req.ShipTo != nil {
			c.shipTo, c.shipToUpdated = req.ShipTo, true
		}
		if req.BillTo != nil {
			c.billTo = req.BillTo
		}
		if req.Metadata != nil {
			c.metadata = maps.Clone(req.Metadata)
		}
		c.updated = time.Now().UTC()
		body = c.json()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("id", "Checkout", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// attachSource makes sourceId the checkout's primary source, replacing any earlier one, as
// attaching a new primary source does at Digital River.
func (s *sandbox) attachSource(w http.ResponseWriter, r *http.Request) {
	id, sourceID := r.PathValue("id"), r.PathValue("sourceId")
	s.mu.Lock()
	c, ok := s.checkouts[id]
	var body sourceJSON
	if ok {
		c.sourceID = sourceID
		c.updated = time.Now().UTC()
		body, _ = c.source()
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, notFound("id", "Checkout", id))
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func gatewayTimeout() *apiError {
	return newError(http.StatusGatewayTimeout, typeTimeout, "request-timeout", "",
		"The request timed out; it may or may not have been processed.")
}
