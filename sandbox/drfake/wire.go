package drfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"time"
)

// This file holds the JSON shapes of the sandbox. Each names the docs.digitalriver.com page it
// follows (paths relative to https://docs.digitalriver.com/digital-river-api/).

// amount is a money amount in minor units (cents). On the wire it is a JSON number in major units
// with two decimals (12.34), as Digital River sends prices and totals. Zero-decimal currencies are
// not modelled.
type amount int64

func (a amount) MarshalJSON() ([]byte, error) {
	neg := ""
	v := int64(a)
	if v < 0 {
		neg, v = "-", -v
	}
	return fmt.Appendf(nil, "%s%d.%02d", neg, v/100, v%100), nil
}

var errAmount = errors.New("amount must be a number with at most two decimals")

func (a *amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errAmount
	}
	cents, ok := parseCents(string(n))
	if !ok {
		return errAmount
	}
	*a = amount(cents)
	return nil
}

// parseCents parses a decimal (exponents allowed) exactly into cents; it fails on sub-cent
// precision and on values that do not fit an int64.
func parseCents(s string) (int64, bool) {
	if len(s) > 64 { // big.Rat would happily parse 1e1000000000
		return 0, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	v := r.Num().Int64()
	if v > math.MaxInt64/1000 || v < -math.MaxInt64/1000 { // leave room for quantity * price sums
		return 0, false
	}
	return v, true
}

// address and contact are the shipTo / billTo shape ("Providing address information",
// integration-options/checkouts/creating-checkouts/providing-address-information).
type address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	State      string `json:"state,omitempty"`
	Country    string `json:"country,omitempty"`
}

type contact struct {
	Name         string  `json:"name,omitempty"`
	Email        string  `json:"email,omitempty"`
	Phone        string  `json:"phone,omitempty"`
	Organization string  `json:"organization,omitempty"`
	Address      address `json:"address"`
}

// shipFrom is a checkout's or a line item's ship-from location (same page, "Ship from address").
type shipFrom struct {
	Address address `json:"address"`
}

// productDetails is basic product data for an item that is not a catalogue SKU ("Using product
// details", product-management/using-product-details): skuGroupId, countryOfOrigin and name are
// required, the rest optional.
type productDetails struct {
	ID              string   `json:"id,omitempty"`
	SKUGroupID      string   `json:"skuGroupId,omitempty"`
	Name            string   `json:"name,omitempty"`
	Description     string   `json:"description,omitempty"`
	URL             string   `json:"url,omitempty"`
	CountryOfOrigin string   `json:"countryOfOrigin,omitempty"`
	Image           string   `json:"image,omitempty"`
	Weight          *float64 `json:"weight,omitempty"`
	WeightUnit      string   `json:"weightUnit,omitempty"`
	PartNumber      string   `json:"partNumber,omitempty"`
	ItemBreadcrumb  string   `json:"itemBreadcrumb,omitempty"`
}

// itemRequest is one items[] element of POST /checkouts ("Describing line items",
// integration-options/checkouts/creating-checkouts/describing-the-items): a skuId or productDetails,
// quantity (default 1), price or aggregatePrice, and the optional subscriptionInfo, shipFrom,
// discount and metadata.
type itemRequest struct {
	SKUID            string          `json:"skuId"`
	ProductDetails   *productDetails `json:"productDetails"`
	Quantity         *int            `json:"quantity"`
	Price            *amount         `json:"price"`
	AggregatePrice   *amount         `json:"aggregatePrice"`
	SubscriptionInfo json.RawMessage `json:"subscriptionInfo"`
	ShipFrom         *shipFrom       `json:"shipFrom"`
	Discount         json.RawMessage `json:"discount"`
	Metadata         map[string]any  `json:"metadata"`
}

// itemUpdate is one items[] element of POST /checkouts/{id}: the item's id plus the only line item
// data an update may change, subscriptionInfo, shipFrom and metadata (same page, "Updating
// items"). Any other field is 400 unknown_parameter, as the page shows for price.
type itemUpdate struct {
	ID               string          `json:"id"`
	SubscriptionInfo json.RawMessage `json:"subscriptionInfo"`
	ShipFrom         *shipFrom       `json:"shipFrom"`
	Metadata         map[string]any  `json:"metadata"`
}

// checkoutRequest is POST /checkouts. The parameters are those of the table "Defining a checkout"
// ("Building checkouts", integration-options/checkouts/creating-checkouts) plus metadata;
// creditAmount only exists in versions up to 2021-02-23. Digital River rejects any other field.
type checkoutRequest struct {
	Items            []itemRequest   `json:"items"`
	Email            string          `json:"email"`
	ShipTo           *contact        `json:"shipTo"`
	BillTo           *contact        `json:"billTo"`
	ShipFrom         *shipFrom       `json:"shipFrom"`
	Currency         string          `json:"currency"`
	UpstreamID       string          `json:"upstreamId"`
	SourceID         string          `json:"sourceId"`
	Metadata         map[string]any  `json:"metadata"`
	BrowserIP        string          `json:"browserIp"`
	Locale           string          `json:"locale"`
	CustomerID       json.RawMessage `json:"customerId"` // a string, or a number in the docs' own example
	CustomerType     string          `json:"customerType"`
	TaxInclusive     *bool           `json:"taxInclusive"`
	ChargeType       string          `json:"chargeType"`
	ShippingChoice   json.RawMessage `json:"shippingChoice"`
	Discount         json.RawMessage `json:"discount"`
	ShippingDiscount json.RawMessage `json:"shippingDiscount"`
	TaxIdentifiers   json.RawMessage `json:"taxIdentifiers"`
	PurchaseLocation json.RawMessage `json:"purchaseLocation"`
	CreditAmount     *amount         `json:"creditAmount"`
}

// checkoutUpdate is POST /checkouts/{id}: the "Both" parameters of the same table. Pointers tell
// "absent" from "set to empty".
type checkoutUpdate struct {
	Items            *[]itemUpdate   `json:"items"`
	Email            *string         `json:"email"`
	ShipTo           *contact        `json:"shipTo"`
	BillTo           *contact        `json:"billTo"`
	ShipFrom         *shipFrom       `json:"shipFrom"`
	Currency         *string         `json:"currency"`
	UpstreamID       *string         `json:"upstreamId"`
	SourceID         *string         `json:"sourceId"`
	Metadata         map[string]any  `json:"metadata"`
	BrowserIP        *string         `json:"browserIp"`
	Locale           *string         `json:"locale"`
	CustomerID       json.RawMessage `json:"customerId"`
	ChargeType       *string         `json:"chargeType"`
	ShippingChoice   json.RawMessage `json:"shippingChoice"`
	TaxIdentifiers   json.RawMessage `json:"taxIdentifiers"`
	PurchaseLocation json.RawMessage `json:"purchaseLocation"`
	CreditAmount     *amount         `json:"creditAmount"`
}

// orderRequest is POST /orders. Only checkoutId is read: "You can submit a POST /orders whose
// payload contains checkoutId plus additional parameters ... Digital River ignores this additional
// data" ("Processing orders", order-management/creating-and-updating-an-order).
type orderRequest struct {
	CheckoutID string `json:"checkoutId"`
}

// itemJSON is a line item in a checkout or order answer: id, skuId and/or productDetails
// ("Whichever option you select, Digital River always returns productDetails"), amount (the line
// total) and quantity ("Building checkouts", "Using the checkout"; "Describing line items", "How
// Digital River returns product data").
type itemJSON struct {
	ID               string          `json:"id"`
	SKUID            string          `json:"skuId,omitempty"`
	ProductDetails   productDetails  `json:"productDetails"`
	Amount           amount          `json:"amount"`
	Quantity         int             `json:"quantity"`
	SubscriptionInfo json.RawMessage `json:"subscriptionInfo,omitempty"`
	ShipFrom         *shipFrom       `json:"shipFrom,omitempty"`
	Metadata         map[string]any  `json:"metadata,omitempty"`
}

// sourceJSON is a payment source ("Payment sources"; state chargeable or pending_funds).
type sourceJSON struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Amount amount `json:"amount"`
	State  string `json:"state"`
	Flow   string `json:"flow,omitempty"`
}

// sessionJSON is payment.session ("Payment sessions", integration-options/checkouts/creating-checkouts/payment-sessions).
type sessionJSON struct {
	ID                             string          `json:"id"`
	State                          string          `json:"state"`
	AmountContributed              amount          `json:"amountContributed"`
	AmountRemainingToBeContributed amount          `json:"amountRemainingToBeContributed"`
	NextAction                     *nextActionJSON `json:"nextAction,omitempty"`
}

// nextActionJSON is payment.session.nextAction of an order waiting for a delayed payment
// (same page, "Determine next action": show_payment_instructions).
type nextActionJSON struct {
	Action string         `json:"action"`
	Data   map[string]any `json:"data,omitempty"`
}

// chargeJSON is one payment.charges[] of an order ("Charges", order-management/orders/payment-charges).
type chargeJSON struct {
	ID          string    `json:"id"`
	CreatedTime time.Time `json:"createdTime"`
	Currency    string    `json:"currency"`
	Amount      amount    `json:"amount"`
	State       string    `json:"state"`
	Captured    bool      `json:"captured"`
	Refunded    bool      `json:"refunded"`
	SourceID    string    `json:"sourceId"`
	Type        string    `json:"type"`
}

type checkoutPaymentJSON struct {
	Sources []sourceJSON `json:"sources"`
	Session sessionJSON  `json:"session"`
}

type orderPaymentJSON struct {
	Charges []chargeJSON `json:"charges"`
	Sources []sourceJSON `json:"sources"`
	Session sessionJSON  `json:"session"`
}

// checkoutJSON is a checkout ("Building checkouts", "Payment session information" example).
type checkoutJSON struct {
	ID               string              `json:"id"`
	UpstreamID       string              `json:"upstreamId,omitempty"`
	CustomerID       string              `json:"customerId,omitempty"`
	Currency         string              `json:"currency"`
	Email            string              `json:"email,omitempty"`
	ShipTo           *contact            `json:"shipTo,omitempty"`
	BillTo           *contact            `json:"billTo,omitempty"`
	ShipFrom         *shipFrom           `json:"shipFrom,omitempty"`
	Items            []itemJSON          `json:"items"`
	Subtotal         amount              `json:"subtotal"`
	TotalAmount      amount              `json:"totalAmount"`
	TotalTax         amount              `json:"totalTax"`
	TotalShipping    amount              `json:"totalShipping"`
	Locale           string              `json:"locale,omitempty"`
	BrowserIP        string              `json:"browserIp,omitempty"`
	CustomerType     string              `json:"customerType,omitempty"`
	ChargeType       string              `json:"chargeType,omitempty"`
	TaxInclusive     *bool               `json:"taxInclusive,omitempty"`
	ShippingChoice   json.RawMessage     `json:"shippingChoice,omitempty"`
	TaxIdentifiers   json.RawMessage     `json:"taxIdentifiers,omitempty"`
	PurchaseLocation json.RawMessage     `json:"purchaseLocation,omitempty"`
	Payment          checkoutPaymentJSON `json:"payment"`
	Metadata         map[string]any      `json:"metadata,omitempty"`
	CreatedTime      time.Time           `json:"createdTime"`
	UpdatedTime      time.Time           `json:"updatedTime"`
	LiveMode         bool                `json:"liveMode"`
}

// orderJSON is an order ("Processing orders"; "The order lifecycle" for state, fraudState and
// stateTransitions; "Charges" for payment.charges).
type orderJSON struct {
	ID               string               `json:"id"`
	CheckoutID       string               `json:"checkoutId"`
	UpstreamID       string               `json:"upstreamId,omitempty"`
	CustomerID       string               `json:"customerId,omitempty"`
	State            string               `json:"state"`
	StateTransitions map[string]time.Time `json:"stateTransitions"`
	FraudState       string               `json:"fraudState"`
	Currency         string               `json:"currency"`
	Email            string               `json:"email,omitempty"`
	ShipTo           *contact             `json:"shipTo,omitempty"`
	BillTo           *contact             `json:"billTo,omitempty"`
	Items            []itemJSON           `json:"items"`
	Subtotal         amount               `json:"subtotal"`
	TotalAmount      amount               `json:"totalAmount"`
	Payment          orderPaymentJSON     `json:"payment"`
	Locale           string               `json:"locale,omitempty"`
	BrowserIP        string               `json:"browserIp,omitempty"`
	Metadata         map[string]any       `json:"metadata,omitempty"`
	CreatedTime      time.Time            `json:"createdTime"`
	UpdatedTime      time.Time            `json:"updatedTime"`
	LiveMode         bool                 `json:"liveMode"`
}

// orderList is a list answer: {"data": [...], "hasMore": bool}.
type orderList struct {
	Data    []orderJSON `json:"data"`
	HasMore bool        `json:"hasMore"`
}

// Error types, as Digital River names them in the "type" field of an error body.
const (
	typeBadRequest    = "bad_request"
	typeUnauthorized  = "unauthorized"
	typeNotFound      = "not_found"
	typeTimeout       = "request_timeout"
	typeConflict      = "conflict"
	typeTooMany       = "too_many_requests"
	typeInternalError = "internal_server_error"
)

// Error codes the documentation names ("Error types, codes, and objects",
// developer-resources/reference/error-types-codes-and-objects; "Using product details";
// "Describing line items"; "Payment sessions"; "Processing orders").
const (
	codeNotFound          = "not_found"
	codeMissingParameter  = "missing_parameter"
	codeInvalidParameter  = "invalid_parameter"
	codeUnknownParameter  = "unknown_parameter"
	codeOrderSubmitFailed = "order_submit_failed"
	codeFailedRequest     = "failed-request"
)

// apiError is Digital River's error body: {"type": ..., "errors": [{"code", "parameter", "message"}]}.
type apiError struct {
	status int
	Type   string        `json:"type"`
	Errors []errorDetail `json:"errors"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Parameter string `json:"parameter,omitempty"`
	Message   string `json:"message"`
}

func newError(status int, typ, code, parameter, format string, args ...any) *apiError {
	return &apiError{status: status, Type: typ, Errors: []errorDetail{{
		Code: code, Parameter: parameter, Message: fmt.Sprintf(format, args...),
	}}}
}

func notFound(parameter, what, id string) *apiError {
	return newError(http.StatusNotFound, typeNotFound, codeNotFound, parameter, "%s %s not found.", what, id)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e) }
