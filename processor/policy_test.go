package processor

import (
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

func withAttempt(f schemas.OrderFailure, n int) schemas.OrderFailure {
	f.Attempt, f.Request.Attempt = n, n
	return f
}

func withDeadline(f schemas.OrderFailure, at time.Time) schemas.OrderFailure {
	f.Request.Deadline = at
	return f
}

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
		{"rate limited, never counted as a retry of its own", failure(PhaseSubmission, provider.ClassRateLimited.String(), "RATE_LIMITED", ""), 0,
			Decision{DoRetry, "rate-limited-retry", string(provider.ActionInvestigate)}},
		{"createCart retryable", failure(PhaseCart, provider.ClassRetryable.String(), "UPSTREAM", ""), 0,
			Decision{DoRetry, "cart-retryable-retry", string(provider.ActionInvestigate)}},
		{"cart expired", failure(PhaseSubmission, provider.ClassNotRetryable.String(), "CART_EXPIRED_ERROR", string(provider.ActionNewCart)), 0,
			Decision{DoReplace, "cart-expired-replace", string(provider.ActionNewCart)}},
		{"cart expired, attempts exhausted", withAttempt(failure(PhaseSubmission, provider.ClassNotRetryable.String(), "CART_EXPIRED_ERROR", string(provider.ActionNewCart)), 3), 0,
			Decision{DoDeadLetter, "cart-expired-replace/max-attempts", ActionAttemptsExhausted}},
		{"placement retryable, past the deadline", withDeadline(failure(PhasePlacement, provider.ClassRetryable.String(), "OUT_OF_STOCK", ""), now.Add(-time.Minute)), 0,
			Decision{DoDeadLetter, "placement-retryable-replace/deadline", ActionDeadlinePassed}},
		{"Digital River 409: a new checkout", failure(PhaseSubmission, provider.ClassNotRetryable.String(), "conflict", string(provider.ActionNewCheckout)), 0,
			Decision{DoDeadLetter, "not-retryable-dead-letter", string(provider.ActionNewCheckout)}},
		{"Digital River other 4xx: fix the checkout", failure(PhaseSubmission, provider.ClassNotRetryable.String(), "invalid_parameter", string(provider.ActionFixCheckout)), 0,
			Decision{DoDeadLetter, "not-retryable-dead-letter", string(provider.ActionFixCheckout)}},
		{"not retryable, no action given", failure(PhasePlacement, provider.ClassNotRetryable.String(), "blocked", ""), 0,
			Decision{DoDeadLetter, "not-retryable-dead-letter", string(provider.ActionInvestigate)}},
		{"a dead letter is never held back by the deadline", withDeadline(failure(PhasePlacement, provider.ClassNotRetryable.String(), "PAYMENT_FAILED", string(provider.ActionNewPaymentMethod)), now.Add(-time.Minute)), 0,
			Decision{DoDeadLetter, "not-retryable-dead-letter", string(provider.ActionNewPaymentMethod)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Decide(tc.f, tc.retries, now); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Validate only checks; NewRoles fills the defaults of the one Config the roles share.
func TestValidateOnlyChecks(t *testing.T) {
	h := newHarness(t, nil, nil)
	cfg := *h.cfg
	cfg.Settings = Settings{Policy: Policy{Rules: DefaultPolicy().Rules}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.PollInterval != 0 || cfg.Owner != "" || cfg.Policy.MaxRetries != 0 || cfg.Limits != (Limits{}) {
		t.Fatalf("Validate filled defaults: %+v", cfg.Settings)
	}
	roles, err := NewRoles(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PollInterval != 2*time.Second || cfg.Owner == "" || cfg.Policy.MaxRetries != 3 || cfg.Limits != DefaultLimits {
		t.Fatalf("NewRoles left defaults unfilled: %+v", cfg.Settings)
	}
	if roles.Worker.cfg != &cfg || roles.Tracker.cfg != &cfg || roles.Reconciler.cfg != &cfg {
		t.Fatal("the roles do not share the one Config")
	}
}
