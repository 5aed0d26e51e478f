package drfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Payment session states (Digital River API 2021-03-23 and later) the sandbox produces ("Payment
// sessions", section "Session state").
const (
	sessionRequiresSource       = "requires_source"
	sessionRequiresConfirmation = "requires_confirmation"
	sessionPendingFunds         = "pending_funds"
	sessionPending              = "pending"
	sessionComplete             = "complete"
)

// Source ids that trigger scenarios; see the package doc.
const (
	sourceDeclined          = "src_declined"
	sourcePendingFunds      = "src_pending_funds"
	sourcePendingFundsNever = "src_pending_funds_never"
)

type lineItem struct {
	id               string
	skuID            string          // "" for an item sent as productDetails
	details          *productDetails // as sent; nil for a SKU item
	quantity         int
	price            int64 // unit price in cents; with an aggregatePrice that does not divide, 0
	amount           int64 // the line total in cents
	subscriptionInfo json.RawMessage
	shipFrom         *shipFrom
	metadata         map[string]any
}

// productID is what scenario triggers look at: the skuId, or productDetails.id.
func (it lineItem) productID() string {
	if it.skuID != "" || it.details == nil {
		return it.skuID
	}
	return it.details.ID
}

func (it lineItem) json() itemJSON {
	out := itemJSON{ID: it.id, SKUID: it.skuID, Amount: amount(it.amount), Quantity: it.quantity,
		SubscriptionInfo: it.subscriptionInfo, ShipFrom: it.shipFrom, Metadata: it.metadata}
	if it.details != nil {
		out.ProductDetails = *it.details
	} else {
		// "Digital River always returns productDetails": for a SKU, filled from the SKU, which the
		// sandbox has no catalogue for beyond its id.
		out.ProductDetails = productDetails{ID: it.skuID}
	}
	return out
}

type checkout struct {
	id, upstreamID, currency, email string
	customerID, customerType        string
	chargeType, locale, browserIP   string
	taxInclusive                    *bool
	shipTo, billTo                  *contact
	shipFrom                        *shipFrom
	shippingChoice, taxIdentifiers  json.RawMessage
	purchaseLocation                json.RawMessage
	items                           []lineItem
	metadata                        map[string]any
	sourceID                        string // primary payment source, "" if none
	sessionID                       string
	created, updated                time.Time

	shipToUpdated bool // a POST /checkouts/{id} set shipTo: the bad-tax scenario is fixed
	declined      bool // a POST /orders was declined (409): this checkout can never become an order
	submits       int  // POST /orders attempts that found this checkout
}

func (c *checkout) total() int64 { return totalOf(c.items) }

func totalOf(items []lineItem) int64 {
	var t int64
	for _, it := range items {
		t += it.amount
	}
	return t
}

// delayedSource reports whether the checkout's source has a receiver flow (wire transfer, Konbini):
// the customer pushes the funds after the order is created.
func (c *checkout) delayedSource() bool { return strings.HasPrefix(c.sourceID, sourcePendingFunds) }

// session derives the payment session from the attached source. A chargeable or pending_funds
// source covers the whole amount: "once it's chargeable or pending_funds, you can attach the source
// to the checkout" ("Building checkouts", "Applying payment"), and the session is then
// requires_confirmation. pending_funds is a session state of the ORDER made with a receiver-flow
// source ("Payment sessions", "pending_funds"; "Handling delayed payment methods"), never of a
// checkout waiting to become one.
func (c *checkout) session() sessionJSON {
	total := c.total()
	ss := sessionJSON{ID: c.sessionID, AmountRemainingToBeContributed: amount(total)}
	switch {
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
	src := sourceJSON{ID: c.sourceID, Type: "creditCard", Amount: amount(c.total()), State: "chargeable", Flow: "standard"}
	if c.delayedSource() {
		src.Type, src.State, src.Flow = "wireTransfer", sessionPendingFunds, "receiver"
	}
	return src, true
}

func (c *checkout) json() checkoutJSON {
	items := itemsJSON(c.items)
	total := c.total()
	out := checkoutJSON{
		ID: c.id, UpstreamID: c.upstreamID, CustomerID: c.customerID, Currency: c.currency, Email: c.email,
		ShipTo: c.shipTo, BillTo: c.billTo, ShipFrom: c.shipFrom, Items: items, Subtotal: amount(total), TotalAmount: amount(total),
		Locale: c.locale, BrowserIP: c.browserIP, CustomerType: c.customerType, ChargeType: c.chargeType,
		TaxInclusive: c.taxInclusive, ShippingChoice: c.shippingChoice, TaxIdentifiers: c.taxIdentifiers,
		PurchaseLocation: c.purchaseLocation,
		Payment:          checkoutPaymentJSON{Sources: []sourceJSON{}, Session: c.session()},
		Metadata:         c.metadata, CreatedTime: c.created, UpdatedTime: c.updated,
	}
	if src, ok := c.source(); ok {
		out.Payment.Sources = append(out.Payment.Sources, src)
	}
	return out
}

func itemsJSON(items []lineItem) []itemJSON {
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = it.json()
	}
	return out
}

// decode reads a strict JSON body: a field Digital River does not know is 400 unknown_parameter,
// as "Describing line items" shows ("'price' is an unknown parameter.").
func decode(r *http.Request, v any) *apiError {
	return decodeBody(r, v, true)
}

// decodeLenient reads a body and ignores fields it does not know (POST /orders).
func decodeLenient(r *http.Request, v any) *apiError {
	return decodeBody(r, v, false)
}

func decodeBody(r *http.Request, v any, strict bool) *apiError {
	dec := json.NewDecoder(r.Body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newError(http.StatusBadRequest, typeBadRequest, "invalid_request", "", "Request body exceeds %d bytes.", tooBig.Limit)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			return newError(http.StatusBadRequest, typeBadRequest, codeUnknownParameter, name, "'%s' is an unknown parameter.", name)
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
	}
	return "malformed JSON"
}

// validItems checks the items of a create request ("Describing line items"; "Using product details").
func validItems(in []itemRequest) ([]lineItem, *apiError) {
	if len(in) == 0 {
		return nil, newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, "items", "A checkout needs at least one item.")
	}
	if len(in) > maxItems {
		return nil, newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "items", "A checkout holds at most %d items.", maxItems)
	}
	out := make([]lineItem, len(in))
	for i, it := range in {
		param := func(f string) string { return fmt.Sprintf("items[%d].%s", i, f) }
		bad := func(code, f, format string, args ...any) *apiError {
			return newError(http.StatusBadRequest, typeBadRequest, code, param(f), format, args...)
		}
		quantity := 1 // "If you don't specify quantity, then its value defaults to 1"
		if it.Quantity != nil {
			quantity = *it.Quantity
		}
		switch {
		case it.SKUID == "" && it.ProductDetails == nil:
			return nil, bad(codeMissingParameter, "skuId", "An item needs a skuId or productDetails.")
		case it.SKUID != "" && it.ProductDetails != nil:
			return nil, bad(codeInvalidParameter, "productDetails", "An item has a skuId or productDetails, not both.")
		case quantity < 1 || quantity > maxQuantity:
			return nil, bad(codeInvalidParameter, "quantity", "quantity must be between 1 and %d.", maxQuantity)
		case it.Price == nil && it.AggregatePrice == nil:
			return nil, bad(codeMissingParameter, "price", "An item needs a price or an aggregatePrice.")
		case it.Price != nil && it.AggregatePrice != nil:
			return nil, bad(codeInvalidParameter, "aggregatePrice", "An item has a price or an aggregatePrice, not both.")
		}
		li := lineItem{id: newID("item_"), skuID: it.SKUID, quantity: quantity, subscriptionInfo: it.SubscriptionInfo,
			shipFrom: it.ShipFrom, metadata: maps.Clone(it.Metadata)}
		if it.Price != nil {
			if *it.Price < 0 || *it.Price > maxPrice {
				return nil, bad(codeInvalidParameter, "price", "price is out of range.")
			}
			li.price, li.amount = int64(*it.Price), int64(*it.Price)*int64(quantity)
		} else {
			if *it.AggregatePrice < 0 || *it.AggregatePrice > maxPrice {
				return nil, bad(codeInvalidParameter, "aggregatePrice", "aggregatePrice is out of range.")
			}
			li.amount = int64(*it.AggregatePrice)
			if li.amount%int64(quantity) == 0 {
				li.price = li.amount / int64(quantity)
			}
		}
		if d := it.ProductDetails; d != nil {
			if e := validProductDetails(d); e != nil {
				return nil, e
			}
			c := *d
			li.details = &c
		}
		if e := validShipFrom(param("shipFrom"), it.ShipFrom); e != nil {
			return nil, e
		}
		out[i] = li
	}
	return out, nil
}

// validProductDetails applies "Using product details": skuGroupId and countryOfOrigin missing are
// 400 missing_parameter with the documented messages, an invalid countryOfOrigin is 400
// invalid_parameter, and "A name is required". The error parameters are the documented ones.
func validProductDetails(d *productDetails) *apiError {
	switch {
	case d.SKUGroupID == "":
		return newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, "skuGroupId", "An item of type sku is missing a skuGroupId parameter.")
	case d.CountryOfOrigin == "":
		return newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, "countryOfOrigin", "must not be null")
	case !isCountry(d.CountryOfOrigin) || d.CountryOfOrigin == "KP":
		return newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "countryOfOrigin", "'%s' is not a valid Country of Origin.", d.CountryOfOrigin)
	case strings.TrimSpace(d.Name) == "":
		return newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, "name", "name is required.")
	case d.WeightUnit != "" && !slices.Contains([]string{"oz", "lb", "g", "kg"}, d.WeightUnit):
		return newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "weightUnit", "weightUnit must be oz, lb, g or kg.")
	}
	return nil
}

func isCountry(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

func validContact(param string, c *contact) *apiError {
	if c != nil && c.Address.Country == "" {
		return newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, param+".address.country", "country is required.")
	}
	return nil
}

func validShipFrom(param string, s *shipFrom) *apiError {
	if s != nil && s.Address.Country == "" {
		return newError(http.StatusBadRequest, typeBadRequest, codeMissingParameter, param+".address.country", "country is required.")
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

var localeRe = regexp.MustCompile(`^[a-z]{2}_[A-Z]{2}$`)

// validOptions checks the optional checkout parameters the sandbox interprets: browserIp ("Providing
// the IP address"), locale ("Designating a locale", e.g. en_US), customerType individual or business
// ("Setting the customer type"), chargeType customer_initiated or merchant_initiated ("Initiating a
// charge").
func validOptions(browserIP, locale, customerType, chargeType string) *apiError {
	bad := func(param, format string, args ...any) *apiError {
		return newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, param, format, args...)
	}
	if browserIP != "" {
		if _, err := netip.ParseAddr(browserIP); err != nil {
			return bad("browserIp", "browserIp must be an IP address.")
		}
	}
	switch {
	case locale != "" && !localeRe.MatchString(locale):
		return bad("locale", "'%s' is not a valid locale.", locale)
	case customerType != "" && customerType != "individual" && customerType != "business":
		return bad("customerType", "customerType must be individual or business.")
	case chargeType != "" && chargeType != "customer_initiated" && chargeType != "merchant_initiated":
		return bad("chargeType", "chargeType must be customer_initiated or merchant_initiated.")
	}
	return nil
}

// customerIDOf accepts a customerId given as a string or a number.
func customerIDOf(raw json.RawMessage) (string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		return n.String(), nil
	}
	return "", newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "customerId", "customerId must be a string.")
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
	if e == nil {
		e = validShipFrom("shipFrom", req.ShipFrom)
	}
	if e == nil {
		e = validOptions(req.BrowserIP, req.Locale, req.CustomerType, req.ChargeType)
	}
	var customerID string
	if e == nil {
		customerID, e = customerIDOf(req.CustomerID)
	}
	if req.Currency == "" {
		req.Currency = "USD"
	}
	if e == nil && !validCurrency(req.Currency) {
		e = newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "currency", "currency must be an ISO 4217 code.")
	}
	if e != nil {
		writeError(w, e)
		return
	}
	now := time.Now().UTC()
	c := &checkout{
		id: newID("chk_"), upstreamID: req.UpstreamID, currency: req.Currency, email: req.Email,
		customerID: customerID, customerType: req.CustomerType, chargeType: req.ChargeType, locale: req.Locale,
		browserIP: req.BrowserIP, taxInclusive: req.TaxInclusive, shipFrom: req.ShipFrom,
		shippingChoice: req.ShippingChoice, taxIdentifiers: req.TaxIdentifiers, purchaseLocation: req.PurchaseLocation,
		shipTo: req.ShipTo, billTo: req.BillTo, items: items, metadata: maps.Clone(req.Metadata),
		sourceID: req.SourceID, sessionID: newID("ps_"), created: now, updated: now,
	}
	if c.customerType == "" {
		c.customerType = "individual"
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

// getCheckout is GET /checkouts/{id}. A consumed checkout answers 404, like an unknown one: the
// sandbox's choice where the docs say nothing (the client must not rely on either).
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

// updateCheckout is POST /checkouts/{id}. Line items may only change subscriptionInfo, shipFrom and
// metadata, named by the item's id; any other item field is 400 unknown_parameter ("Describing line
// items", "Updating items"). A consumed checkout answers the reused-checkout status.
func (s *sandbox) updateCheckout(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req checkoutUpdate
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	e := validContact("shipTo", req.ShipTo)
	if e == nil {
		e = validContact("billTo", req.BillTo)
	}
	if e == nil {
		e = validShipFrom("shipFrom", req.ShipFrom)
	}
	if e == nil {
		e = validOptions(deref(req.BrowserIP), deref(req.Locale), "", deref(req.ChargeType))
	}
	var customerID string
	if e == nil {
		customerID, e = customerIDOf(req.CustomerID)
	}
	if e == nil && req.Currency != nil && !validCurrency(*req.Currency) {
		e = newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, "currency", "currency must be an ISO 4217 code.")
	}
	if e == nil && req.Items != nil {
		for i, it := range *req.Items {
			if e = validShipFrom(fmt.Sprintf("items[%d].shipFrom", i), it.ShipFrom); e != nil {
				break
			}
		}
	}
	if e != nil {
		writeError(w, e)
		return
	}

	s.mu.Lock()
	c, ok := s.checkouts[id]
	if !ok {
		o := s.consumed[id]
		s.mu.Unlock()
		if o != nil {
			writeError(w, s.reusedError(o, "id"))
			return
		}
		writeError(w, notFound("id", "Checkout", id))
		return
	}
	if req.Items != nil {
		for i, u := range *req.Items {
			j := slices.IndexFunc(c.items, func(it lineItem) bool { return it.id == u.ID })
			if j < 0 {
				s.mu.Unlock()
				writeError(w, newError(http.StatusBadRequest, typeBadRequest, codeInvalidParameter, fmt.Sprintf("items[%d].id", i),
					"'%s' is not a line item of checkout %s.", u.ID, id))
				return
			}
		}
		for _, u := range *req.Items {
			j := slices.IndexFunc(c.items, func(it lineItem) bool { return it.id == u.ID })
			if u.SubscriptionInfo != nil {
				c.items[j].subscriptionInfo = u.SubscriptionInfo
			}
			if u.ShipFrom != nil {
				c.items[j].shipFrom = u.ShipFrom
			}
			if u.Metadata != nil {
				c.items[j].metadata = maps.Clone(u.Metadata)
			}
		}
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
	if req.ShipFrom != nil {
		c.shipFrom = req.ShipFrom
	}
	if req.Currency != nil {
		c.currency = *req.Currency
	}
	if req.UpstreamID != nil {
		c.upstreamID = *req.UpstreamID
	}
	if req.SourceID != nil {
		c.sourceID = *req.SourceID
	}
	if req.Metadata != nil {
		c.metadata = maps.Clone(req.Metadata)
	}
	if req.BrowserIP != nil {
		c.browserIP = *req.BrowserIP
	}
	if req.Locale != nil {
		c.locale = *req.Locale
	}
	if customerID != "" {
		c.customerID = customerID
	}
	if req.ChargeType != nil {
		c.chargeType = *req.ChargeType
	}
	if req.ShippingChoice != nil {
		c.shippingChoice = req.ShippingChoice
	}
	if req.TaxIdentifiers != nil {
		c.taxIdentifiers = req.TaxIdentifiers
	}
	if req.PurchaseLocation != nil {
		c.purchaseLocation = req.PurchaseLocation
	}
	c.updated = time.Now().UTC()
	body := c.json()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// attachSource makes sourceId the checkout's primary source, replacing any earlier one, as
// attaching a new primary source does at Digital River.
func (s *sandbox) attachSource(w http.ResponseWriter, r *http.Request) {
	id, sourceID := r.PathValue("id"), r.PathValue("sourceId")
	s.mu.Lock()
	c, ok := s.checkouts[id]
	if !ok {
		o := s.consumed[id]
		s.mu.Unlock()
		if o != nil {
			writeError(w, s.reusedError(o, "id"))
			return
		}
		writeError(w, notFound("id", "Checkout", id))
		return
	}
	c.sourceID = sourceID
	c.updated = time.Now().UTC()
	body, _ := c.source()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}

func gatewayTimeout() *apiError {
	return newError(http.StatusGatewayTimeout, typeTimeout, "request-timeout", "",
		"The request timed out; it may or may not have been processed.")
}
