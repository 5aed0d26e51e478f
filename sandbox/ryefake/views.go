package ryefake

import (
	"net/url"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// Views render the sandbox's model as resolver values. All are called with s.mu held.
//
// URLs (product pages, images, 3-D Secure redirects, carrier tracking) point at the sandbox's
// own host, taken from the request ("http://<host>/..."), so that they are plausible
// addresses of the sandbox; nothing serves them (no handler: they answer 404).

func (rs *reqState) url(path string, id string) URL {
	return URL(rs.base + path + url.PathEscape(id))
}

func (s *Server) cartView(rs *reqState, c *cart) *cartRes {
	v := &cartRes{
		ID:                 gqlID(c.id),
		CreatedAt:          graphql.Time{Time: c.createdAt},
		BuyerIdentity:      c.buyer,
		IsShippingRequired: boolPtr(true),
		Stores:             make([]*storeRes, 0, len(c.stores)),
		Attributes:         c.attributes,
	}
	if !c.unpriced {
		// Tax and shipping are 0 and there is no margin. isEstimated: how Rye decides it is
		// not documented; the sandbox reports an estimate while the cart has no buyer
		// identity (no address to compute tax and shipping for).
		sub := c.subtotal()
		v.Cost = &cartCostRes{IsEstimated: c.buyer == nil, Margin: usd(0), Shipping: usd(0),
			Subtotal: usd(sub), Tax: usd(0), Total: usd(sub)}
	}
	for _, st := range c.stores {
		v.Stores = append(v.Stores, s.storeView(rs, c, st))
	}
	return v
}

// storeView renders a store as AmazonStore or ShopifyStore. orderId and requestId are both
// the store's order id: DOCS (api-reference/amazonstore, shopifystore) deprecate requestId
// for orderId, i.e. the same value under its new name.
func (s *Server) storeView(rs *reqState, c *cart, st *store) *storeRes {
	if st.market == marketplaceAmazon {
		a := &amazonStoreRes{
			CartLines: make([]*amazonCartLineRes, 0, len(st.lines)), Errors: []*amazonStoreErrorRes{},
			IsShippingRequired: true, IsSubmitted: c.submitted, RequestID: st.orderID, OrderID: st.orderID,
			Store: st.name,
		}
		for _, l := range st.lines {
			a.CartLines = append(a.CartLines, &amazonCartLineRes{Product: amazonProduct(rs, l), Quantity: l.quantity})
		}
		if c.buyer != nil {
			sub := usd(st.subtotal())
			m := shippingMethod()
			a.Offer = &amazonOfferRes{Errors: []*amazonOfferErrorRes{}, Margin: usd(0), NotAvailableIds: []string{},
				SelectedShippingMethod: m, ShippingMethods: []*shippingMethodRes{m}, Subtotal: sub}
		}
		return &storeRes{amazon: a}
	}
	sh := &shopifyStoreRes{
		CartLines: make([]*shopifyCartLineRes, 0, len(st.lines)), Errors: []*shopifyStoreErrorRes{},
		IsShippingRequired: true, IsSubmitted: c.submitted, RequestID: st.orderID, OrderID: st.orderID,
		Store: st.name,
	}
	for _, l := range st.lines {
		sh.CartLines = append(sh.CartLines, &shopifyCartLineRes{Variant: shopifyVariant(rs, c, l), Quantity: l.quantity})
	}
	if c.buyer != nil {
		m := shippingMethod()
		sh.Offer = &shopifyOfferRes{Errors: []*shopifyOfferErrorRes{}, Margin: usd(0), NotAvailableIds: []string{},
			SelectedShippingMethod: m, ShippingMethods: []*shippingMethodRes{m}, Subtotal: usd(st.subtotal())}
	}
	return &storeRes{shopify: sh}
}

// shippingMethod is the one free shipping method every offer has.
func shippingMethod() *shippingMethodRes {
	return &shippingMethodRes{ID: "standard", Label: "Standard shipping", Price: usd(0), Taxes: usd(0), Total: usd(0)}
}

// amazonProduct renders an Amazon line's product: id and ASIN are the productId as sent.
func amazonProduct(rs *reqState, l line) *amazonProductRes {
	img := &imageRes{amazon: &amazonImageRes{URL: rs.url("/images/", l.productID)}}
	return &amazonProductRes{
		ASIN: gqlID(l.productID), ID: gqlID(l.productID), Description: "Sandbox product " + l.productID,
		Images: []*imageRes{img}, IsAvailable: true, Marketplace: string(marketplaceAmazon),
		Price: usd(l.priceCents), Tags: []string{}, Title: "Sandbox product " + l.productID,
		URL: rs.url("/products/", l.productID), Variants: []*variantRes{}, Vendor: "Sandbox vendor",
	}
}

// shopifyVariant renders a Shopify line's variant: id is the variantId as sent.
func shopifyVariant(rs *reqState, c *cart, l line) *shopifyVariantRes {
	t := graphql.Time{Time: c.createdAt}
	img := &imageRes{shopify: &shopifyImageRes{CreatedAt: t, UpdatedAt: t, Height: 600, Width: 600, Position: 1,
		ID: gqlID("img_" + l.productID), URL: rs.url("/images/", l.productID), VariantIDs: []graphql.ID{gqlID(l.productID)}}}
	return &shopifyVariantRes{
		SKU: "SKU-" + l.productID, CompareAtPrice: decimalUSD(l.priceCents), ID: gqlID(l.productID), Image: img,
		IsAvailable: true, IsShippingRequired: true, IsTaxable: true, Name: "Sandbox variant " + l.productID,
		Price: decimalUSD(l.priceCents), PriceCents: int32(l.priceCents), Title: "Sandbox variant " + l.productID,
	}
}

// submitStoreView renders one store of a submitCart answer. failures is nil when the cart is
// submitted; otherwise it holds the stores' errors (a store without errors in a failed
// all-or-nothing submission was not submitted either).
//
// status (SDK-2024: nullable and deprecated; DOCS submitstorestatus: COMPLETED, PAYMENT_FAILED,
// FAILED): COMPLETED once submitted, PAYMENT_FAILED when the store has a PAYMENT_FAILED error,
// FAILED otherwise; null for the "no-status:" trigger.
func (s *Server) submitStoreView(rs *reqState, c *cart, st *store, failures map[*store][]*codeMessage) *submitStoreRes {
	errs := failures[st]
	if errs == nil {
		errs = []*codeMessage{}
	}
	status := "FAILED"
	switch {
	case c.submitted:
		status = "COMPLETED"
	case hasCode(errs, "PAYMENT_FAILED"):
		status = "PAYMENT_FAILED"
	}
	res := &submitStoreRes{Errors: errs, IsSubmitted: c.submitted, RequestID: gqlID(st.orderID), OrderID: gqlID(st.orderID),
		Status: &status, Store: s.storeView(rs, c, st)}
	if st.scenario == scenarioNoStatus {
		res.Status = nil
	}
	return res
}

func hasCode(errs []*codeMessage, code string) bool {
	for _, e := range errs {
		if e.Code == code {
			return true
		}
	}
	return false
}

// orderView renders a store's order at now. cartView is the order's cart (Order.cart).
func (s *Server) orderView(rs *reqState, c *cart, st *store, cartView *cartRes, now time.Time) *orderRes {
	state := c.stateAt(st, s.cfg.PlacementStep, now)
	if state.challenge && st.challengeShown.IsZero() {
		// This answer shows the buyer the challenge: from now on they can answer it.
		st.challengeShown = now
		s.scheduleRefund(c, now)
	}
	o := &orderRes{
		ID: gqlID(st.orderID), CartID: gqlID(c.id), Cart: cartView, Status: state.status,
		RequiredActions: []*requiredActionRes{}, Events: make([]*eventRes, 0, len(state.events)),
		Shipments: []*shipmentRes{}, Marketplace: string(st.market), MarketplaceOrderIds: []string{},
		CreatedAt: graphql.Time{Time: c.createdAt},
	}
	if state.challenge {
		o.RequiredActions = append(o.RequiredActions, &requiredActionRes{challenge: &paymentChallengeRes{RedirectURL: rs.url("/3ds/", st.orderID)}})
	}
	if state.placed {
		o.MarketplaceOrderIds = append(o.MarketplaceOrderIds, marketplaceOrderID(st))
	}
	if state.tracked {
		n := trackingNumber(st)
		u := rs.url("/track/", n)
		o.Shipments = append(o.Shipments, &shipmentRes{CarrierName: "UPS", CarrierTrackingNumber: n, CarrierTrackingUrl: &u})
	}
	for _, e := range state.events {
		er := &eventRes{typename: e.typename, ID: gqlID(e.id), CreatedAt: graphql.Time{Time: e.at},
			Reason: e.reason, ReasonCode: e.reasonCode, Retryable: e.retryable}
		if e.typename == evRefundCreated {
			er.Amount = usd(e.amountCents)
		}
		o.Events = append(o.Events, er)
	}
	return o
}

// checkoutView renders checkoutByCartID.
func (s *Server) checkoutView(rs *reqState, c *cart, now time.Time) *checkoutRes {
	cv := s.cartView(rs, c)
	out := &checkoutRes{Cart: cv, Orders: make([]*orderRes, 0, len(c.stores))}
	statuses := make([]string, 0, len(c.stores))
	for _, st := range c.stores {
		o := s.orderView(rs, c, st, cv, now)
		statuses = append(statuses, o.Status)
		out.Orders = append(out.Orders, o)
	}
	out.Status = checkoutStatus(statuses)
	return out
}
