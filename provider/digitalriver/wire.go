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

// lineItem is one element of a checkout's items[] in a create request. An item names either a
// catalogue SKU (skuId) or carries productDetails, never both ("Describing line items",
// docs.digitalriver.com/digital-river-api/integration-options/checkouts/creating-checkouts/describing-the-items:
// "each items[] in a POST/checkouts must contain a skuId" / "use it to define productDetails").
type lineItem struct {
	SKUID          string          `json:"skuId,omitempty"`
	ProductDetails *productDetails `json:"productDetails,omitempty"`
	Quantity       int             `json:"quantity"`
	Price          amount          `json:"price"`
}

// productDetails is basic product data for an item that is not a catalogue SKU. skuGroupId,
// countryOfOrigin and name are required ("Using product details",
// docs.digitalriver.com/digital-river-api/product-management/using-product-details: a missing
// skuGroupId or countryOfOrigin is 400 missing_parameter; "A name is required"); id should be the
// product's id in our system.
type productDetails struct {
	ID              string `json:"id,omitempty"`
	SKUGroupID      string `json:"skuGroupId,omitempty"`
	Name            string `json:"name,omitempty"`
	CountryOfOrigin string `json:"countryOfOrigin,omitempty"`
}

// lineItemsOf builds the items of a create checkout request. An item with a SKUGroupID is sent as
// productDetails (id = ProductID, name = Name, countryOfOrigin = the item's, else the client's CountryOfOrigin);
// every other item as skuId = ProductID. It refuses, before anything is sent, an uncatalogued item
// without a name or without a country of origin: Digital River would answer 400 for it.
func lineItemsOf(items []provider.Item, countryOfOrigin string) ([]lineItem, error) {
	out := make([]lineItem, len(items))
	for i, it := range items {
		out[i] = lineItem{Quantity: it.Quantity, Price: amount(it.PriceCents)}
		if it.SKUGroupID == "" {
			out[i].SKUID = it.ProductID
			continue
		}
		origin := it.CountryOfOrigin
		if origin == "" {
			origin = countryOfOrigin
		}
		switch {
		case strings.TrimSpace(it.Name) == "":
			return nil, fmt.Errorf("item %d (%s): productDetails needs a name", i, it.ProductID)
		case origin == "":
			return nil, fmt.Errorf("item %d (%s): productDetails needs a countryOfOrigin: set the item's or the client's CountryOfOrigin", i, it.ProductID)
		}
		out[i].ProductDetails = &productDetails{ID: it.ProductID, SKUGroupID: it.SKUGroupID, Name: it.Name, CountryOfOrigin: origin}
	}
	return out, nil
}

// checkoutRequest is the create checkout body. browserIp is the customer's IP ("Providing the IP
// address", docs.digitalriver.com/digital-river-api/integration-options/checkouts/creating-checkouts/providing-the-ip-address).
type checkoutRequest struct {
	Items      []lineItem `json:"items"`
	Email      string     `json:"email,omitempty"`
	ShipTo     *contact   `json:"shipTo,omitempty"`
	BillTo     *contact   `json:"billTo,omitempty"`
	Currency   string     `json:"currency,omitempty"`
	UpstreamID string     `json:"upstreamId,omitempty"`
	BrowserIP  string     `json:"browserIp,omitempty"`
}

// checkoutUpdate is the update checkout body. It never carries items: "update checkout requests
// only allow you to modify subscription, ship from and meta data" of a line item, anything else
// is 400 ("Describing line items", section "Updating items").
type checkoutUpdate struct {
	Email  string   `json:"email,omitempty"`
	ShipTo *contact `json:"shipTo,omitempty"`
	BillTo *contact `json:"billTo,omitempty"`
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

// orderItem is a line of an order as Digital River reports it: skuId and/or productDetails,
// quantity and amount (the line total); price is not in the documented order examples ("Describing
// line items", section "How Digital River returns product data").
type orderItem struct {
	ID             string          `json:"id"`
	SKUID          string          `json:"skuId"`
	ProductDetails *productDetails `json:"productDetails"`
	Quantity       int             `json:"quantity"`
	Price          *amount         `json:"price"`
	Amount         *amount         `json:"amount"`
}

// order is an order. Charges are payment.charges[] ("Charges",
// docs.digitalriver.com/digital-river-api/order-management/orders/payment-charges); a top-level
// charges[] (older versions) is read too.
type order struct {
	ID          string      `json:"id"`
	CheckoutID  string      `json:"checkoutId"`
	UpstreamID  string      `json:"upstreamId"`
	State       string      `json:"state"`
	Currency    string      `json:"currency"`
	TotalAmount amount      `json:"totalAmount"`
	Items       []orderItem `json:"items"`
	Charges     []charge    `json:"charges"`
	Payment     struct {
		Charges []charge `json:"charges"`
		Session session  `json:"session"`
	} `json:"payment"`
	CreatedTime time.Time `json:"createdTime"`
	UpdatedTime time.Time `json:"updatedTime"`
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
