package rye

import (
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye/internal/ryeopen"
)

// Rye's words for placement, and what they mean in the port's vocabulary. This file is the
// only place that interprets them: the tracker sees provider.Event types, Retryable flags and
// Actions.

// eventTypes maps the OrderEvent implementations of ryeschema (__typename) onto the port's
// event types; an event of any other type is ignored.
var eventTypes = map[string]string{
	"OrderSubmissionStartedOrderEvent":   provider.EventSubmissionStarted,
	"OrderSubmissionSucceededOrderEvent": provider.EventSubmissionSucceeded,
	"OrderPlacedOrderEvent":              provider.EventPlaced,
	"OrderFailedOrderEvent":              provider.EventFailed,
	"PaymentSucceededOrderEvent":         provider.EventPaymentSucceeded,
	"PaymentFailedOrderEvent":            provider.EventPaymentFailed,
	"PaymentRefundedOrderEvent":          provider.EventPaymentRefunded,
	"TrackingObtainedOrderEvent":         provider.EventTrackingObtained,
	"OrderCancelStartedOrderEvent":       provider.EventCancelStarted,
	"OrderCancelSucceededOrderEvent":     provider.EventCancelSucceeded,
	"OrderCancelFailedOrderEvent":        provider.EventCancelFailed,
	"RefundCreatedOrderEvent":            provider.EventRefundCreated,
}

// eventOf is e in the port's vocabulary; false for an event type this client does not know.
// Only an OrderFailed event carries a reason, its retryable flag and the action it asks for.
func eventOf(e ryeopen.OrderEvent) (provider.Event, bool) {
	typ, ok := eventTypes[e.Typename]
	if !ok {
		return provider.Event{}, false
	}
	ev := provider.Event{Type: typ, ID: e.ID, At: e.CreatedAt}
	if typ == provider.EventFailed {
		ev.Reason, ev.ReasonCode, ev.Retryable = e.Reason, e.ReasonCode, e.Retryable
		if e.Retryable != nil && !*e.Retryable {
			ev.Action = PlacementAction(e.ReasonCode)
		}
	}
	return ev, true
}

// PlacementAction maps the reasonCode of an OrderFailed event that is not retryable to what a
// person must do; a code it does not know is ActionInvestigate.
func PlacementAction(code string) provider.Action {
	switch code {
	case "INSUFFICIENT_FUNDS", "PAYMENT_DECLINED", "PAYMENT_FAILED":
		return provider.ActionNewPaymentMethod
	case "SHIPPING_ADDRESS_UNAVAILABLE":
		return provider.ActionNewAddress
	case "INVALID_REQUEST":
		return provider.ActionFixInput
	case "MERCHANT_CONFIGURATION", "DENIED_BY_MARKETPLACE":
		return provider.ActionContactProvider
	}
	return provider.ActionInvestigate
}

// statusActionRequired is the OrderStatus of an order waiting for the customer.
const statusActionRequired = "ACTION_REQUIRED"

// paymentChallenge is the OrderRequiredAction member Rye has: a 3-D Secure challenge.
const paymentChallenge = "CompletePaymentChallenge"

// requiredActions are an order's required actions in the port's vocabulary. An order in
// ACTION_REQUIRED that lists none yet waits for a payment challenge (Rye's only kind), whose
// redirect URL comes later.
func requiredActions(status string, listed []ryeopen.RequiredAction) []provider.RequiredAction {
	var out []provider.RequiredAction
	for _, a := range listed {
		kind := a.Typename
		if kind == "" {
			kind = paymentChallenge
		}
		out = append(out, provider.RequiredAction{Kind: kind, RedirectURL: a.RedirectURL, Action: requiredActionFor(kind)})
	}
	if len(out) == 0 && status == statusActionRequired {
		out = append(out, provider.RequiredAction{Kind: paymentChallenge, Action: requiredActionFor(paymentChallenge)})
	}
	return out
}

// requiredActionFor is the dead-letter action of a required action the customer did not
// complete in time.
func requiredActionFor(kind string) provider.Action {
	if kind == paymentChallenge {
		return provider.ActionCompletePaymentChallenge
	}
	return provider.ActionInvestigate
}
