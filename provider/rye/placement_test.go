package rye

import (
	"testing"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye/internal/ryeopen"
)

// The reason codes of a not-retryable OrderFailed and the action each asks of a person.
func TestPlacementAction(t *testing.T) {
	for _, tc := range []struct {
		code string
		want provider.Action
	}{
		{"INSUFFICIENT_FUNDS", provider.ActionNewPaymentMethod},
		{"PAYMENT_DECLINED", provider.ActionNewPaymentMethod},
		{"PAYMENT_FAILED", provider.ActionNewPaymentMethod},
		{"SHIPPING_ADDRESS_UNAVAILABLE", provider.ActionNewAddress},
		{"INVALID_REQUEST", provider.ActionFixInput},
		{"MERCHANT_CONFIGURATION", provider.ActionContactProvider},
		{"DENIED_BY_MARKETPLACE", provider.ActionContactProvider},
		{"OUT_OF_STOCK", provider.ActionInvestigate},
		{"A_CODE_FROM_THE_FUTURE", provider.ActionInvestigate},
		{"", provider.ActionInvestigate},
	} {
		t.Run(tc.code, func(t *testing.T) {
			if got := PlacementAction(tc.code); got != tc.want {
				t.Errorf("PlacementAction(%q) = %q, want %q", tc.code, got, tc.want)
			}
		})
	}
}

// What the tracker decides from an order, as this adapter reports Rye's answer.
func TestPlacementVocabulary(t *testing.T) {
	no, yes := provider.Bool(false), provider.Bool(true)
	ev := func(typename string) ryeopen.OrderEvent { return ryeopen.OrderEvent{Typename: typename, ID: typename} }
	failed := func(code string, retryable *bool) ryeopen.OrderEvent {
		return ryeopen.OrderEvent{Typename: "OrderFailedOrderEvent", ID: "f", ReasonCode: code, Reason: "r", Retryable: retryable}
	}
	for _, tc := range []struct {
		name       string
		status     string
		actions    []ryeopen.RequiredAction
		events     []ryeopen.OrderEvent
		phase      provider.Phase
		failAction provider.Action // of the failure, if any
		wait       provider.RequiredAction
	}{
		{name: "no events", status: "PENDING", phase: provider.PhaseNotStarted},
		{name: "started", events: []ryeopen.OrderEvent{ev("OrderSubmissionStartedOrderEvent")}, phase: provider.PhaseStarted},
		{name: "in progress", events: []ryeopen.OrderEvent{ev("OrderSubmissionStartedOrderEvent"), ev("OrderSubmissionSucceededOrderEvent")}, phase: provider.PhaseInProgress},
		{name: "unknown event only", events: []ryeopen.OrderEvent{ev("OrderTeleportedOrderEvent")}, phase: provider.PhaseNotStarted},
		{name: "placed", events: []ryeopen.OrderEvent{ev("OrderSubmissionStartedOrderEvent"), ev("OrderPlacedOrderEvent")}, phase: provider.PhasePlaced},
		{name: "failed, payment", events: []ryeopen.OrderEvent{ev("OrderSubmissionStartedOrderEvent"), failed("PAYMENT_FAILED", no)},
			phase: provider.PhaseFailed, failAction: provider.ActionNewPaymentMethod},
		{name: "failed, retryable", events: []ryeopen.OrderEvent{failed("PAYMENT_FAILED", yes)}, phase: provider.PhaseFailed},
		{name: "failed, retryability unknown", events: []ryeopen.OrderEvent{failed("OUT_OF_STOCK", nil)}, phase: provider.PhaseFailed},
		{name: "challenge listed", status: "ACTION_REQUIRED", events: []ryeopen.OrderEvent{ev("OrderSubmissionStartedOrderEvent")},
			actions: []ryeopen.RequiredAction{{Typename: "CompletePaymentChallenge", RedirectURL: "https://pay.example/3ds"}},
			phase:   provider.PhaseActionRequired,
			wait:    provider.RequiredAction{Kind: "CompletePaymentChallenge", RedirectURL: "https://pay.example/3ds", Action: provider.ActionCompletePaymentChallenge}},
		{name: "status only: the challenge it implies", status: "ACTION_REQUIRED", phase: provider.PhaseActionRequired,
			wait: provider.RequiredAction{Kind: "CompletePaymentChallenge", Action: provider.ActionCompletePaymentChallenge}},
		{name: "an action of another kind", actions: []ryeopen.RequiredAction{{Typename: "VerifyIdentity", RedirectURL: "https://x"}},
			phase: provider.PhaseActionRequired, wait: provider.RequiredAction{Kind: "VerifyIdentity", RedirectURL: "https://x", Action: provider.ActionInvestigate}},
		{name: "placed wins over a stale action", status: "ACTION_REQUIRED", events: []ryeopen.OrderEvent{ev("OrderPlacedOrderEvent")}, phase: provider.PhasePlaced,
			wait: provider.RequiredAction{Kind: "CompletePaymentChallenge", Action: provider.ActionCompletePaymentChallenge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := provider.OrderPlacement{Status: tc.status, RequiredActions: requiredActions(tc.status, tc.actions)}
			for _, e := range tc.events {
				if pe, ok := eventOf(e); ok {
					o.Events = append(o.Events, pe)
				}
			}
			if got := o.Phase(); got != tc.phase {
				t.Errorf("phase %v, want %v (events %+v)", got, tc.phase, o.Events)
			}
			if f, ok := o.Failure(); ok && f.Action != tc.failAction {
				t.Errorf("failure action %q, want %q", f.Action, tc.failAction)
			}
			if got, _ := o.RequiredAction(); got != tc.wait {
				t.Errorf("required action %+v, want %+v", got, tc.wait)
			}
		})
	}
}
