package digitalriver

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/orderflow/orderflow/provider"
)

// This file holds the JSON shapes of the Digital River API the client uses. Responses are decoded
// leniently (unknown fields ignored), as a client of a dated, evolving API should.

// amount is money in minor units; on the wire a JSON number in major units (12.34).
type amount int64

func (a amount) MarshalJSON() ([]byte, error) {
	neg, v := "", int64(a)
	if v < 0 {
		neg, v = "-", -v
	}
	return fmt.Appendf(nil, "%s%d.%02d", neg, v/100, v%100), nil
}

func (a *amount) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("decoding amount: %w", err)
	}
	c, ok := centsOf(string(n))
	if !ok {
		return fmt.Errorf("decoding amount: %.32q is not a money amount", string(n))
	}
	*a = amount(c)
	return nil
}

// centsOf parses a decimal amount exactly and rounds it half away from zero to cents.
func centsOf(s string) (int64, bool) {
	if len(s) > 64 { // bounds the work big.Rat does on exponents such as 1e999999999
		return 0, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	r.Mul(r, big.NewRat(100, 1))
	f, _ := r.Float64()
	if f > 9e18 || f < -9e18 {
		return 0, false
	}
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(int64(r.Sign())))
	}
	return q.Int64(), true
}

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

func contactOf(b provider.Buyer) *contact {
	return &contact{
		Name:  strings.TrimSpace(b.FirstName + " " + b.LastName),
		Email: b.Email,
		Phone: b.Phone,
		Address: address{
			Line1: b.Address1, Line2: b.Address2, City: b.City,
			PostalCode: b.PostalCode, State: b.ProvinceCode, Country: b.CountryCode,
		},
	}
}

type lineItem struct {
	SKUID    string `json:"skuId"`
	Quantity int    `json:"quantity"`
	Price    amount `json:"price"`
}

func lineItemsOf(items []provider.Item) []lineItem {
	out := make([]lineItem, len(items))
	for i, it := range items {
		out[i] = lineItem{SKUID: it.ProductID, Quantity: it.Quantity, Price: amount(it.PriceCents)}
	}
	return out
}

type checkoutRequest struct {
	Items      []lineItem `json:"items"`
	Email      string     `json:"email,omitempty"`
	ShipTo     *contact   `json:"shipTo,omitempty"`
	BillTo     *contact   `json:"billTo,omitempty"`
	Currency   string     `json:"currency,omitempty"`
	UpstreamID string     `json:"upstreamId,omitempty"`
}

type checkoutUpdate struct {
	Items  []lineItem `json:"items,omitempty"`
	Email  string     `json:"email,omitempty"`
	ShipTo *contact   `json:"shipTo,omitempty"`
	BillTo *contact   `json:"billTo,omitempty"`
}

type session struct {
	ID                             string `json:"id"`
	State                          string `json:"state"`
	AmountContributed              amount `json:"amountContributed"`
	AmountRemainingToBeContributed amount `json:"amountRemainingToBeContributed"`
}

type checkout struct {
	ID          string    `json:"id"`
	UpstreamID  string    `json:"upstreamId"`
	Currency    string    `json:"currency"`
	TotalAmount amount    `json:"totalAmount"`
	CreatedTime time.Time `json:"createdTime"`
	Payment     struct {
		Session session `json:"session"`
	} `json:"payment"`
}

type orderRequest struct {
	CheckoutID string `json:"checkoutId"`
}

type charge struct {
	ID     string `json:"id"`
	Amount amount `json:"amount"`
	State  string `json:"state"`
}

type order struct {
	ID          string     `json:"id"`
	CheckoutID  string     `json:"checkoutId"`
	UpstreamID  string     `json:"upstreamId"`
	State       string     `json:"state"`
	Currency    string     `json:"currency"`
	TotalAmount amount     `json:"totalAmount"`
	Items       []lineItem `json:"items"`
	Charges     []charge   `json:"charges"`
	CreatedTime time.Time  `json:"createdTime"`
	UpdatedTime time.Time  `json:"updatedTime"`
}

type orderList struct {
	Data    []order `json:"data"`
	HasMore bool    `json:"hasMore"`
}

// errorBody is Digital River's error shape: {"type": "conflict", "errors": [{"code", "parameter", "message"}]}.
type errorBody struct {
	Type   string `json:"type"`
	Errors []struct {
		Code      string `json:"code"`
		Parameter string `json:"parameter"`
		Message   string `json:"message"`
	} `json:"errors"`
}
