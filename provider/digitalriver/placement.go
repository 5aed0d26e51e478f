package digitalriver

import (
	"github.com/orderflow/orderflow/provider"
)

// Order states, grouped by the placement phase they mean. The documented states ("The order
// lifecycle", docs.digitalriver.com/digital-river-api/order-management/orders/the-order-lifecycle)
// are pending_payment, in_review, accepted, blocked, cancelled, fulfilled, complete, returned and
// dispute. An order that reached accepted was placed: fulfilled, complete, returned and dispute
// all come after it. blocked (fraud) and cancelled (for example a delayed payment never funded)
// are failures. "failed" and "canceled" are not documented and kept as failures to be safe.
var (
	placedStates = map[string]bool{"accepted": true, "fulfilled": true, "complete": true, "returned": true, "dispute": true}
	failedStates = map[string]bool{"failed": true, "blocked": true, "cancelled": true, "canceled": true}
)

// placementOf maps the orders of one checkout onto the port's placement vocabulary. With no
// order there is one OrderPlacement without events: the checkout has not been turned into an
// order (not started).
func placementOf(checkoutID string, orders []order) provider.Placement {
	p := provider.Placement{CartID: checkoutID}
	if len(orders) == 0 {
		p.Orders = []provider.OrderPlacement{{Merchant: Name}}
		return p
	}
	for _, o := range orders {
		p.Orders = append(p.Orders, provider.OrderPlacement{
			Merchant: Name, OrderID: o.ID, Status: o.State, Items: itemsOf(o.Items), Events: eventsOf(o),
		})
	}
	return p
}

// eventsOf derives the port's events from an order state. A failure carries no Action: no
// Digital River state says what to change, so the tracker asks a person to investigate. Event
// ids are the order id plus a fixed suffix, so the same state always yields the same ids
// (downstream dedupes on them).
func eventsOf(o order) []provider.Event {
	updated := o.UpdatedTime
	if updated.IsZero() {
		updated = o.CreatedTime
	}
	evs := []provider.Event{{Type: provider.EventSubmissionStarted, ID: o.ID + "/started", At: o.CreatedTime}}
	switch {
	case placedStates[o.State]:
		evs = append(evs,
			provider.Event{Type: provider.EventPaymentSucceeded, ID: o.ID + "/paid", At: updated},
			provider.Event{Type: provider.EventPlaced, ID: o.ID + "/placed", At: updated})
	case failedStates[o.State]:
		evs = append(evs, provider.Event{
			Type: provider.EventFailed, ID: o.ID + "/failed", At: updated,
			Reason: "order " + o.State, ReasonCode: o.State, Retryable: provider.Bool(false),
		})
	}
	// pending_payment, in_review and states this client does not know: started, not yet decided.
	return evs
}

// itemsOf maps an order's lines onto provider items: ProductID is the skuId, or productDetails.id
// for an uncatalogued item, with its name and SKU group, exactly as CreateCart sent them (Digital
// River fills productDetails for SKU items too; those keep only the skuId).
// PriceCents is the unit price: price when the order carries one, else amount/quantity when that
// divides evenly, else 0 (not reported).
func itemsOf(items []orderItem) []provider.Item {
	if len(items) == 0 {
		return nil
	}
	out := make([]provider.Item, len(items))
	for i, it := range items {
		pi := provider.Item{Merchant: Name, ProductID: it.SKUID, Quantity: it.Quantity}
		if d := it.ProductDetails; d != nil && it.SKUID == "" { // an item sent as productDetails
			pi.ProductID, pi.SKUGroupID, pi.Name, pi.CountryOfOrigin = d.ID, d.SKUGroupID, d.Name, d.CountryOfOrigin
		}
		switch {
		case it.Price != nil:
			pi.PriceCents = int64(*it.Price)
		case it.Amount != nil && it.Quantity > 0 && int64(*it.Amount)%int64(it.Quantity) == 0:
			pi.PriceCents = int64(*it.Amount) / int64(it.Quantity)
		}
		out[i] = pi
	}
	return out
}
