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

// ryeScenario is a Rye scenario of one Amazon item, whose product id is productFormat
// formatted with the order's number, paid with the payment token.
func ryeScenario(name, want, token, productFormat string) Scenario {
	return Scenario{Name: name, Want: want, Build: func(id string, n int) schemas.OrderRequested {
		return rye(id, token, amazon(fmt.Sprintf(productFormat, n)))
	}}
}

// Rye scenarios, by name.
var (
	Placed          = ryeScenario("placed", "placed", "tok_visa", "B0OK%06d")
	PaymentDeclined = ryeScenario("payment-declined", "dead_lettered:new-payment-method", "tok_declined", "B0PD%06d")
	OutOfStockOnce  = ryeScenario("out-of-stock-then-replaced", "placed", "tok_visa", "oos-once:B0OS%06d")
	Undeliverable   = Scenario{Name: "undeliverable", Want: "dead_lettered:new-address", Build: func(id string, n int) schemas.OrderRequested {
		o := rye(id, "tok_visa", amazon(fmt.Sprintf("B0UD%06d", n)))
		o.Buyer.PostalCode = "00000"
		return o
	}}
	UpstreamFlaky       = ryeScenario("upstream-flaky", "placed", "tok_visa", "upstream-2:B0UP%06d")
	TimeoutPlaced       = ryeScenario("timeout-but-placed", "placed", "tok_visa", "timeout-placed:B0TP%06d")
	TimeoutLost         = ryeScenario("timeout-never-started", "placed", "tok_visa", "timeout-lost:B0TL%06d")
	Stuck               = ryeScenario("stuck", "needs_attention:contact-provider", "tok_visa", "stuck:B0ST%06d")
	PlacementFailed     = ryeScenario("placement-failed", "dead_lettered:contact-provider", "tok_visa", "placement-failed:B0PF%06d")
	RetryabilityUnknown = ryeScenario("retryability-unknown", "dead_lettered:investigate", "tok_visa", "unknown-error:B0UE%06d")
	AlwaysUnavailable   = ryeScenario("always-unavailable", "dead_lettered:attempts-exhausted", "tok_visa", "unavailable:B0UA%06d")
	// Every cart of this product is created expired, so each replacement expires too until
	// the policy's attempt limit dead-letters the order.
	CartExpired            = ryeScenario("cart-expired", "dead_lettered:attempts-exhausted", "tok_visa", "expired:B0EX%06d")
	PartialAcrossMerchants = Scenario{Name: "two-merchants-one-replaced", Want: "placed", Build: func(id string, n int) schemas.OrderRequested {
		// Shopify variant ids are sent verbatim; the sandbox finds the store after the last "@".
		return rye(id, "tok_visa", amazon(fmt.Sprintf("B0MM%06d", n)), shop("shop-a.myshopify.com", fmt.Sprintf("oos-once:V%06d@shop-a.myshopify.com", n)))
	}}
	// 3-D Secure: the customer completes the challenge, fails it, or never completes it (dead-
	// lettered after the processor's ActionTimeout: short in the embedded demo and the tests).
	ThreeDSPassed    = ryeScenario("3ds-passed", "placed", "tok_visa", "3ds-pass:B03P%06d")
	ThreeDSFailed    = ryeScenario("3ds-failed", "dead_lettered:new-payment-method", "tok_visa", "3ds-fail:B03F%06d")
	ThreeDSAbandoned = ryeScenario("3ds-abandoned", "dead_lettered:complete-payment-challenge", "tok_visa", "3ds-abandon:B03A%06d")
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

// drScenario is a Digital River scenario of one catalogue item, whose SKU is skuFormat
// formatted with the order's number, paid with the payment source.
func drScenario(name, want, source, skuFormat string) Scenario {
	return Scenario{Name: name, Want: want, Build: func(id string, n int) schemas.OrderRequested {
		return digitalRiver(id, source, fmt.Sprintf(skuFormat, n))
	}}
}

// Digital River scenarios.
var (
	DRPlaced = drScenario("dr-placed", "placed", "src_visa", "SKU-OK-%06d")
	// DRProductDetails orders an item that is in no Digital River catalogue: sent as
	// productDetails (skuGroupId, name, countryOfOrigin) next to a catalogue SKU.
	DRProductDetails = Scenario{Name: "dr-product-details", Want: "placed", Build: func(id string, n int) schemas.OrderRequested {
		o := digitalRiver(id, "src_visa", fmt.Sprintf("SKU-PD-%06d", n))
		o.Items = append(o.Items, schemas.Item{Merchant: "digitalriver", ProductID: fmt.Sprintf("kbd-%06d", n), Quantity: 1, PriceCents: 2999,
			Name: "Wireless keyboard", SKUGroupID: "wireless-keyboards", CountryOfOrigin: "DE"})
		return o
	}}
	DRDeclined = drScenario("dr-declined-409", "dead_lettered:new-checkout", "src_declined", "SKU-DC-%06d")
	DRBadTax   = drScenario("dr-bad-request-400", "dead_lettered:fix-checkout", "src_visa", "bad-tax:SKU-BT-%06d")
	// DRSessionNotReady has no payment source: the payment session stays requires_source and the
	// client refuses POST /orders (after finding no order for the checkout).
	DRSessionNotReady = drScenario("dr-payment-session-not-ready", "dead_lettered:new-payment-method", "", "SKU-PF-%06d")
	// DRDelayedPayment pays with a delayed (receiver-flow) method: the order waits in
	// pending_payment with a pending_funds session until the funds arrive, then is accepted.
	DRDelayedPayment = drScenario("dr-delayed-payment-placed", "placed", "src_pending_funds", "SKU-DP-%06d")
	// DRDelayedUnfunded: the funds never arrive; Digital River cancels the order.
	DRDelayedUnfunded = drScenario("dr-delayed-payment-cancelled", "dead_lettered:investigate", "src_pending_funds_never", "SKU-DU-%06d")
	// DRFulfilled walks the happy path past accepted: fulfilled, then complete.
	DRFulfilled      = drScenario("dr-fulfilled-complete", "placed", "src_visa", "fulfilled:SKU-FC-%06d")
	DRTimeoutCreated = drScenario("dr-timeout-but-created", "placed", "src_visa", "timeout-created:SKU-TC-%06d")
	DRServerError    = drScenario("dr-500-then-resubmitted", "placed", "src_visa", "server-error-1:SKU-SE-%06d")
)
