// Package demo generates order requests that walk every sandbox scenario, and tallies the
// outcomes from the status topic. `orderflow run` uses it for its demo stream; the
// end-to-end tests use it to know what each order must end as.
package demo

import (
	"fmt"
	"time"

	"github.com/orderflow/orderflow/schemas"
)

// Scenario is one kind of demo order and the outcome it must reach.
type Scenario struct {
	Name string
	// Want is the terminal outcome per merchant: "placed", "dead_lettered:<action>" or
	// "needs_attention:<action>".
	Want string
	// Build returns the request for order n (unique product ids per order, so scenarios that
	// count per product, like oos-once, behave the same for every order).
	Build func(orderID string, n int) schemas.OrderRequested
}

func buyer() schemas.Buyer {
	return schemas.Buyer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: "+14155550100",
		Address1: "1 Market St", City: "San Francisco", ProvinceCode: "CA", PostalCode: "94105", CountryCode: "US"}
}

func rye(orderID, token string, items ...schemas.Item) schemas.OrderRequested {
	return schemas.OrderRequested{OrderID: orderID, Attempt: 1, Provider: "rye", Buyer: buyer(), Items: items,
		Currency: "USD", PaymentRef: token, ShopperIP: "203.0.113.10", RequestedAt: time.Now().UTC()}
}

func amazon(product string) schemas.Item {
	return schemas.Item{Merchant: "amazon", ProductID: product, Quantity: 1, PriceCents: 1999}
}

func shop(store, product string) schemas.Item {
	return schemas.Item{Merchant: store, ProductID: product, Quantity: 2, PriceCents: 1250}
}

// single is a scenario of one item whose product id is productFormat formatted with the
// order's number, in the request order builds (ryeAmazon, drPaid).
func single(name, want, productFormat string, order func(orderID, product string) schemas.OrderRequested) Scenario {
	return Scenario{Name: name, Want: want, Build: func(id string, n int) schemas.OrderRequested {
		return order(id, fmt.Sprintf(productFormat, n))
	}}
}

// ryeAmazon orders one Amazon product through Rye, paid with the payment token.
func ryeAmazon(token string) func(orderID, product string) schemas.OrderRequested {
	return func(id, product string) schemas.OrderRequested { return rye(id, token, amazon(product)) }
}

// Rye scenarios, by name.
var (
	Placed          = single("placed", "placed", "B0OK%06d", ryeAmazon("tok_visa"))
	PaymentDeclined = single("payment-declined", "dead_lettered:new-payment-method", "B0PD%06d", ryeAmazon("tok_declined"))
	OutOfStockOnce  = single("out-of-stock-then-replaced", "placed", "oos-once:B0OS%06d", ryeAmazon("tok_visa"))
	Undeliverable   = Scenario{Name: "undeliverable", Want: "dead_lettered:new-address", Build: func(id string, n int) schemas.OrderRequested {
		o := rye(id, "tok_visa", amazon(fmt.Sprintf("B0UD%06d", n)))
		o.Buyer.PostalCode = "00000"
		return o
	}}
	UpstreamFlaky       = single("upstream-flaky", "placed", "upstream-2:B0UP%06d", ryeAmazon("tok_visa"))
	TimeoutPlaced       = single("timeout-but-placed", "placed", "timeout-placed:B0TP%06d", ryeAmazon("tok_visa"))
	TimeoutLost         = single("timeout-never-started", "placed", "timeout-lost:B0TL%06d", ryeAmazon("tok_visa"))
	Stuck               = single("stuck", "needs_attention:contact-provider", "stuck:B0ST%06d", ryeAmazon("tok_visa"))
	PlacementFailed     = single("placement-failed", "dead_lettered:contact-provider", "placement-failed:B0PF%06d", ryeAmazon("tok_visa"))
	RetryabilityUnknown = single("retryability-unknown", "dead_lettered:investigate", "unknown-error:B0UE%06d", ryeAmazon("tok_visa"))
	AlwaysUnavailable   = single("always-unavailable", "dead_lettered:attempts-exhausted", "unavailable:B0UA%06d", ryeAmazon("tok_visa"))
	// Every cart of this product is created expired, so each replacement expires too until
	// the policy's attempt limit dead-letters the order.
	CartExpired            = single("cart-expired", "dead_lettered:attempts-exhausted", "expired:B0EX%06d", ryeAmazon("tok_visa"))
	PartialAcrossMerchants = Scenario{Name: "two-merchants-one-replaced", Want: "placed", Build: func(id string, n int) schemas.OrderRequested {
		// Shopify variant ids are sent verbatim; the sandbox finds the store after the last "@".
		return rye(id, "tok_visa", amazon(fmt.Sprintf("B0MM%06d", n)), shop("shop-a.myshopify.com", fmt.Sprintf("oos-once:V%06d@shop-a.myshopify.com", n)))
	}}
	// 3-D Secure: the customer completes the challenge, fails it, or never completes it (dead-
	// lettered after the processor's ActionTimeout: short in the embedded demo and the tests).
	ThreeDSPassed    = single("3ds-passed", "placed", "3ds-pass:B03P%06d", ryeAmazon("tok_visa"))
	ThreeDSFailed    = single("3ds-failed", "dead_lettered:new-payment-method", "3ds-fail:B03F%06d", ryeAmazon("tok_visa"))
	ThreeDSAbandoned = single("3ds-abandoned", "dead_lettered:complete-payment-challenge", "3ds-abandon:B03A%06d", ryeAmazon("tok_visa"))
)

// Skeleton is the three scenarios of the walking skeleton.
var Skeleton = []Scenario{Placed, PaymentDeclined, OutOfStockOnce}

// All is every demo scenario, for both providers.
func All() []Scenario {
	return []Scenario{Placed, PaymentDeclined, OutOfStockOnce, Undeliverable, UpstreamFlaky, TimeoutPlaced,
		TimeoutLost, Stuck, PlacementFailed, RetryabilityUnknown, AlwaysUnavailable, CartExpired, PartialAcrossMerchants,
		ThreeDSPassed, ThreeDSFailed, ThreeDSAbandoned,
		DRPlaced, DRProductDetails, DRDeclined, DRBadTax, DRSessionNotReady, DRTimeoutCreated, DRServerError,
		DRDelayedPayment, DRDelayedUnfunded, DRFulfilled}
}

// Order is one generated request and the outcome it must reach.
type Order struct {
	Request  schemas.OrderRequested
	Scenario Scenario
}

// Generator hands out orders round-robin over its scenarios.
type Generator struct {
	Prefix    string
	Scenarios []Scenario
	n         int
}

// Next returns the next order.
func (g *Generator) Next() Order {
	s := g.Scenarios[g.n%len(g.Scenarios)]
	id := fmt.Sprintf("%s%06d", g.Prefix, g.n)
	g.n++
	return Order{Request: s.Build(id, g.n), Scenario: s}
}

func digitalRiver(orderID, source string, skus ...string) schemas.OrderRequested {
	items := make([]schemas.Item, len(skus))
	for i, s := range skus {
		items[i] = schemas.Item{Merchant: "digitalriver", ProductID: s, Quantity: 1, PriceCents: 4999}
	}
	return schemas.OrderRequested{OrderID: orderID, Attempt: 1, Provider: "digitalriver", Buyer: buyer(), Items: items,
		Currency: "USD", PaymentRef: source, ShopperIP: "203.0.113.10", RequestedAt: time.Now().UTC()}
}

// drPaid orders one catalogue SKU through Digital River, paid with the payment source.
func drPaid(source string) func(orderID, sku string) schemas.OrderRequested {
	return func(id, sku string) schemas.OrderRequested { return digitalRiver(id, source, sku) }
}

// Digital River scenarios.
var (
	DRPlaced = single("dr-placed", "placed", "SKU-OK-%06d", drPaid("src_visa"))
	// DRProductDetails orders an item that is in no Digital River catalogue: sent as
	// productDetails (skuGroupId, name, countryOfOrigin) next to a catalogue SKU.
	DRProductDetails = Scenario{Name: "dr-product-details", Want: "placed", Build: func(id string, n int) schemas.OrderRequested {
		o := digitalRiver(id, "src_visa", fmt.Sprintf("SKU-PD-%06d", n))
		o.Items = append(o.Items, schemas.Item{Merchant: "digitalriver", ProductID: fmt.Sprintf("kbd-%06d", n), Quantity: 1, PriceCents: 2999,
			Name: "Wireless keyboard", SKUGroupID: "wireless-keyboards", CountryOfOrigin: "DE"})
		return o
	}}
	DRDeclined = single("dr-declined-409", "dead_lettered:new-checkout", "SKU-DC-%06d", drPaid("src_declined"))
	DRBadTax   = single("dr-bad-request-400", "dead_lettered:fix-checkout", "bad-tax:SKU-BT-%06d", drPaid("src_visa"))
	// DRSessionNotReady has no payment source: the payment session stays requires_source and the
	// client refuses POST /orders (after finding no order for the checkout).
	DRSessionNotReady = single("dr-payment-session-not-ready", "dead_lettered:new-payment-method", "SKU-PF-%06d", drPaid(""))
	// DRDelayedPayment pays with a delayed (receiver-flow) method: the order waits in
	// pending_payment with a pending_funds session until the funds arrive, then is accepted.
	DRDelayedPayment = single("dr-delayed-payment-placed", "placed", "SKU-DP-%06d", drPaid("src_pending_funds"))
	// DRDelayedUnfunded: the funds never arrive; Digital River cancels the order.
	DRDelayedUnfunded = single("dr-delayed-payment-cancelled", "dead_lettered:investigate", "SKU-DU-%06d", drPaid("src_pending_funds_never"))
	// DRFulfilled walks the happy path past accepted: fulfilled, then complete.
	DRFulfilled      = single("dr-fulfilled-complete", "placed", "fulfilled:SKU-FC-%06d", drPaid("src_visa"))
	DRTimeoutCreated = single("dr-timeout-but-created", "placed", "timeout-created:SKU-TC-%06d", drPaid("src_visa"))
	DRServerError    = single("dr-500-then-resubmitted", "placed", "server-error-1:SKU-SE-%06d", drPaid("src_visa"))
)
