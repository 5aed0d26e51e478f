package processor

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	req := schemas.OrderRequested{OrderID: "o", Attempt: 1, Provider: "rye", RequestedAt: now.Add(-time.Hour)}
	failure := func(phase, class, code, action string) schemas.OrderFailure {
		return schemas.OrderFailure{OrderID: "o", Attempt: 1, Provider: "rye", Phase: phase, Class: class, Code: code, Action: action, Request: req}
	}
	for _, tc := range []struct {
		name    string
		f       schemas.OrderFailure
		retries int
		want    Decision
	}{
		{"stuck", failure(PhasePlacement, ClassStuck, "started", string(provider.ActionContactProvider)), 0,
			Decision{DoNeedsAttention, "stuck-needs-attention", string(provider.ActionContactProvider)}},
		{"3-D Secure challenge not completed in time", failure(PhasePlacement, ClassActionTimeout, ClassActionTimeout, string(provider.ActionCompletePaymentChallenge)), 0,
			Decision{DoDeadLetter, "action-timeout-dead-letter", string(provider.ActionCompletePaymentChallenge)}},
		{"challenge failed: payment", failure(PhasePlacement, provider.ClassNotRetryable.String(), "PAYMENT_FAILED", string(provider.ActionNewPaymentMethod)), 0,
			Decision{DoDeadLetter, "not-retryable-dead-letter", string(provider.ActionNewPaymentMethod)}},
		{"submit retryable", failure(PhaseSubmission, provider.ClassRetryable.String(), "UPSTREAM", ""), 0,
			Decision{DoRetry, "submit-retryable-retry", string(provider.ActionInvestigate)}},
		{"submit retryable, retries exhausted", failure(PhaseSubmission, provider.ClassRetryable.String(), "UPSTREAM", ""), 3,
			Decision{DoDeadLetter, "submit-retryable-retry/max-retries", ActionAttemptsExhausted}},
		{"placement retryable", failure(PhasePlacement, provider.ClassRetryable.String(), "OUT_OF_STOCK", ""), 0,
			Decision{DoReplace, "placement-retryable-replace", string(provider.ActionInvestigate)}},
		{"retryability unknown", failure(PhaseSubmission, provider.ClassUnknownRetryability.String(), "X", ""), 0,
			Decision{DoDeadLetter, "retryability-unknown-investigate", string(provider.ActionInvestigate)}},
		{"unknown class", failure(PhasePlacement, "something-new", "X", ""), 0,
			Decision{DoDeadLetter, "default-investigate", string(provider.ActionInvestigate)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Decide(tc.f, tc.retries, now); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
