package digitalriver

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"time"
)

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

// address and contact are Digital River's shipTo / billTo shape.
type address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	State      string `json:"state,omitempty"`
	Country    string `json:"country,omitempty"`
}

type contact struct {
	Name    string  `json:"name,omitempty"`
	Email   string  `json:"email,omitempty"`
	Phone   string  `json:"phone,omitempty"`
	Address address `json:"address"`
}

type itemRequest struct {
	SKUID    string `json:"skuId"`
	Quantity int    `json:"quantity"`
	Price    amount `json:"price"`
}

type checkoutRequest struct {
	Items      []itemRequest  `json:"items"`
	Email      string         `json:"email"`
	ShipTo     *contact       `json:"shipTo"`
	BillTo     *contact       `json:"billTo"`
	Currency   string         `json:"currency"`
	UpstreamID string         `json:"upstreamId"`
	SourceID   string         `json:"sourceId"`
	Metadata   map[string]any `json:"metadata"`
}

// checkoutUpdate uses pointers so that "absent" and "set to empty" differ.
type checkoutUpdate struct {
	Items    *[]itemRequest `json:"items"`
	Email    *string        `json:"email"`
	ShipTo   *contact       `json:"shipTo"`
	BillTo   *contact       `json:"billTo"`
	Metadata map[string]any `json:"metadata"`
}

type orderRequest struct {
	CheckoutID string `json:"checkoutId"`
}

type itemJSON struct {
	SKUID    string `json:"skuId"`
	Quantity int    `json:"quantity"`
	Price    amount `json:"price"`
	Amount   amount `json:"amount"` // price * quantity
}

type sourceJSON struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Amount amount `json:"amount"`
	State  string `json:"state"`
}

type sessionJSON struct {
	ID                             string `json:"id"`
	State                          string `json:"state"`
	AmountContributed              amount `json:"amountContributed"`
	AmountRemainingToBeContributed amount `json:"amountRemainingToBeContributed"`
}

type paymentJSON struct {
	Sources []sourceJSON `json:"sources"`
	Session sessionJSON  `json:"session"`
}

type checkoutJSON struct {
	ID          string         `json:"id"`
	UpstreamID  string         `json:"upstreamId,omitempty"`
	Currency    string         `json:"currency"`
	Email       string         `json:"email,omitempty"`
	ShipTo      *contact       `json:"shipTo,omitempty"`
	BillTo      *contact       `json:"billTo,omitempty"`
	Items       []itemJSON     `json:"items"`
	Subtotal    amount         `json:"subtotal"`
	TotalAmount amount         `json:"totalAmount"`
	Payment     paymentJSON    `json:"payment"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	CreatedTime time.Time      `json:"createdTime"`
	UpdatedTime time.Time      `json:"updatedTime"`
	LiveMode    bool           `json:"liveMode"`
}

type chargeJSON struct {
	ID     string `json:"id"`
	Amount amount `json:"amount"`
	State  string `json:"state"`
}

type orderJSON struct {
	ID          string         `json:"id"`
	CheckoutID  string         `json:"checkoutId"`
	UpstreamID  string         `json:"upstreamId,omitempty"`
	State       string         `json:"state"`
	Currency    string         `json:"currency"`
	Email       string         `json:"email,omitempty"`
	ShipTo      *contact       `json:"shipTo,omitempty"`
	BillTo      *contact       `json:"billTo,omitempty"`
	Items       []itemJSON     `json:"items"`
	TotalAmount amount         `json:"totalAmount"`
	Charges     []chargeJSON   `json:"charges"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	CreatedTime time.Time      `json:"createdTime"`
	UpdatedTime time.Time      `json:"updatedTime"`
	LiveMode    bool           `json:"liveMode"`
}

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

// apiError is Digital River's error body: {"type": ..., "errors": [{"code", "parameter", "message"}]}.
type apiError struct {
	status int
	Type   string        `json:"type"`
	Errors []errorDetail `json:"errors"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Parameter string `json:"parameter"`
	Message   string `json:"message"`
}

func newError(status int, typ, code, parameter, format string, args ...any) *apiError {
	return &apiError{status: status, Type: typ, Errors: []errorDetail{{
		Code: code, Parameter: parameter, Message: fmt.Sprintf(format, args...),
	}}}
}

func notFound(parameter, what, id string) *apiError {
	return newError(http.StatusNotFound, typeNotFound, "resource-not-found", parameter, "%s %s not found.", what, id)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e) }
