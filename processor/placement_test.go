package processor

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// The tracker turns a failed placement into a failure event from the adapter's words alone:
// the Retryable flag decides the class, the adapter's Action what a person must do.
func TestPlacementFailureMapping(t *testing.T) {
	tr := &Tracker{cfg: &Config{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}}
	track := schemas.Tracking{CartID: "cart-1", Request: schemas.OrderRequested{OrderID: "o", Attempt: 1, Provider: "toy"}}
	for _, tc := range []struct {
		name       string
		ev         provider.Event
		wantClass  provider.Class
		wantAction provider.Action
	}{
		{"retryability not said", provider.Event{ReasonCode: "X"}, provider.ClassUnknownRetryability, provider.ActionInvestigate},
		{"retryability not said, an action given", provider.Event{ReasonCode: "X", Action: provider.ActionNewAddress},
			provider.ClassUnknownRetryability, provider.ActionInvestigate},
		{"retryable", provider.Event{ReasonCode: "OUT_OF_STOCK", Retryable: provider.Bool(true)}, provider.ClassRetryable, provider.ActionNone},
		{"not retryable, the adapter's action", provider.Event{ReasonCode: "PAYMENT_FAILED", Retryable: provider.Bool(false), Action: provider.ActionNewPaymentMethod},
			provider.ClassNotRetryable, provider.ActionNewPaymentMethod},
		{"not retryable, no action known", provider.Event{ReasonCode: "blocked", Retryable: provider.Bool(false)},
			provider.ClassNotRetryable, provider.ActionInvestigate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tr.placementFailure(track, provider.OrderPlacement{Merchant: "m", OrderID: "mo"}, nil, tc.ev)
			if f.Class != tc.wantClass.String() || f.Action != string(tc.wantAction) || f.Code != tc.ev.ReasonCode || f.Phase != PhasePlacement {
				t.Errorf("failure class %q action %q code %q phase %q, want %q %q %q %q",
					f.Class, f.Action, f.Code, f.Phase, tc.wantClass, tc.wantAction, tc.ev.ReasonCode, PhasePlacement)
			}
		})
	}
}

// The dead-letter action of a required action the customer did not complete in time.
func TestTimeoutAction(t *testing.T) {
	for _, tc := range []struct {
		a    provider.RequiredAction
		want provider.Action
	}{
		{provider.RequiredAction{Kind: "CompletePaymentChallenge", Action: provider.ActionCompletePaymentChallenge}, provider.ActionCompletePaymentChallenge},
		{provider.RequiredAction{Kind: "SomethingNew"}, provider.ActionInvestigate},
	} {
		if got := timeoutAction(tc.a); got != tc.want {
			t.Errorf("timeoutAction(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
}
