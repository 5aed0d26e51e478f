// Package ryeopen holds the Go types genqlient binds Rye's abstract types to (genqlient.yaml
// bindings): the Store and OrderRequiredAction unions and the OrderEvent interface.
//
// genqlient's own code for an abstract type fails the whole response on a __typename it was
// not generated for, so one new event type (Rye added RefundCreatedOrderEvent after the 2024
// SDK) or store type would make every cart's placement unreadable. These types read open-world
// instead: every field the operations may select is optional, and Typename says what arrived;
// the client decides what an unknown type means (provider/rye: ignored and logged once).
package ryeopen

import "time"

// Store is a member of the Store union (AmazonStore, ShopifyStore, or a type Rye adds later).
// Amazon lines carry Product, Shopify lines Variant.
type Store struct {
	Typename    string     `json:"__typename"`
	Store       string     `json:"store"`
	OrderID     string     `json:"orderId"`
	RequestID   string     `json:"requestId"`
	IsSubmitted bool       `json:"isSubmitted"`
	CartLines   []CartLine `json:"cartLines"`
}

// CartLine is an AmazonCartLine or a ShopifyCartLine.
type CartLine struct {
	Quantity int  `json:"quantity"`
	Product  *Ref `json:"product"`
	Variant  *Ref `json:"variant"`
}

// ID returns the line's product (Amazon) or variant (Shopify) id.
func (l CartLine) ID() string {
	switch {
	case l.Product != nil:
		return l.Product.ID
	case l.Variant != nil:
		return l.Variant.ID
	}
	return ""
}

// Ref is a selected object of which orderflow reads only the id.
type Ref struct {
	ID string `json:"id"`
}

// OrderEvent is an implementation of the OrderEvent interface. Reason, ReasonCode and
// Retryable are set on OrderFailedOrderEvent (Retryable nil: Rye did not say).
type OrderEvent struct {
	Typename   string    `json:"__typename"`
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	Reason     string    `json:"reason"`
	ReasonCode string    `json:"reasonCode"`
	Retryable  *bool     `json:"retryable"`
}

// RequiredAction is a member of the OrderRequiredAction union (CompletePaymentChallenge).
type RequiredAction struct {
	Typename    string `json:"__typename"`
	RedirectURL string `json:"redirectURL"`
}
