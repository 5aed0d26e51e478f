package digitalriver

import (
	"github.com/orderflow/orderflow/provider"
)

// Order states, grouped by the placement phase they mean.
var (
	placedStates = map[string]bool{"accepted": true, "fulfilled": true, "complete": true}
	failedStates = map[string]bool{"failed": true, "blocked": true, "cancelled": true, "canceled": true}
)

// placementOf maps the orders of one checkout onto provider events. With no order there is one
// OrderPlacement without events: the checkout has not been turned into an order (not started).
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

// eventsOf derives Rye-style events from an order state. Event ids are the order id plus a fixed
// suffix, so the same state always yields the same ids (downstream dedupes on them).
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

func itemsOf(items []lineItem) []provider.Item {
	if len(items) == 0 {
		return nil
	}
	out := make([]provider.Item, len(items))
	for i, it := range items {
		out[i] = provider.Item{Merchant: Name, ProductID: it.SKUID, Quantity: it.Quantity, PriceCents: int64(it.Price)}
	}
	return out
}
