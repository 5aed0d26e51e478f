package processor

import (
	"errors"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// Do is what the reconciler does with a failure.
type Do string

const (
	DoRetry          Do = "retry"           // the same cart again, through a delay tier
	DoReplace        Do = "replace"         // a new cart with the failed items, as the next attempt
	DoDeadLetter     Do = "dead-letter"     // park it with the action a person must take
	DoNeedsAttention Do = "needs-attention" // park it; the provider must be contacted; never replaced
)

// Rule matches failures; empty fields match anything. The first matching rule of a Policy wins.
type Rule struct {
	Name     string
	Provider string
	Phase    string // cart, submission, placement
	Class    string // provider.Class names, or "stuck"
	Code     string
	Action   string // the failure's action
	Do       Do
	// DeadLetterAction overrides the action recorded on the dead letter.
	DeadLetterAction string
}

func (r Rule) matches(f schemas.OrderFailure) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	return eq(r.Provider, f.Provider) && eq(r.Phase, f.Phase) && eq(r.Class, f.Class) && eq(r.Code, f.Code) && eq(r.Action, f.Action)
}

// Policy is the reconciler's failure policy, kept as data so deployments can change it.
type Policy struct {
	Rules []Rule
	// MaxRetries bounds delay-tier retries of one attempt. Default 3.
	MaxRetries int
	// MaxAttempts bounds the attempts (original plus replacements) of one order. Default 3.
	MaxAttempts int
	// MaxAge is how long after RequestedAt an order without its own deadline may still be
	// retried or replaced. Default 10 days: a Rye cart expires then.
	MaxAge time.Duration
}

// Actions recorded on dead letters besides the provider.Action values.
const (
	ActionAttemptsExhausted = "attempts-exhausted"
	ActionDeadlinePassed    = "deadline-passed"
)

// DefaultPolicy is the failure policy of the design brief, with the default limits.
func DefaultPolicy() Policy {
	p := Policy{Rules: []Rule{
		{Name: "stuck-needs-attention", Class: ClassStuck, Do: DoNeedsAttention, DeadLetterAction: string(provider.ActionContactProvider)},
		// The customer did not complete a 3-D Secure challenge in time. Never replaced or
		// retried: they may still complete it, so the replay tool asks the provider first.
		{Name: "action-timeout-dead-letter", Class: ClassActionTimeout, Do: DoDeadLetter},
		{Name: "rate-limited-retry", Class: provider.ClassRateLimited.String(), Do: DoRetry},
		{Name: "submit-retryable-retry", Phase: PhaseSubmission, Class: provider.ClassRetryable.String(), Do: DoRetry},
		{Name: "cart-retryable-retry", Phase: PhaseCart, Class: provider.ClassRetryable.String(), Do: DoRetry},
		{Name: "cart-expired-replace", Action: string(provider.ActionNewCart), Do: DoReplace},
		{Name: "placement-retryable-replace", Phase: PhasePlacement, Class: provider.ClassRetryable.String(), Do: DoReplace},
		{Name: "not-retryable-dead-letter", Class: provider.ClassNotRetryable.String(), Do: DoDeadLetter},
		{Name: "retryability-unknown-investigate", Class: provider.ClassUnknownRetryability.String(), Do: DoDeadLetter, DeadLetterAction: string(provider.ActionInvestigate)},
		{Name: "default-investigate", Do: DoDeadLetter, DeadLetterAction: string(provider.ActionInvestigate)},
	}}
	p.setDefaults()
	return p
}

// setDefaults fills the zero limits with their defaults.
func (p *Policy) setDefaults() {
	if p.MaxRetries <= 0 {
		p.MaxRetries = 3
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 3
	}
	if p.MaxAge <= 0 {
		p.MaxAge = 10 * 24 * time.Hour
	}
}

// Validate checks the rules; it changes nothing.
func (p Policy) Validate() error {
	if len(p.Rules) == 0 {
		return errors.New("policy: no rules")
	}
	for i, r := range p.Rules {
		switch r.Do {
		case DoRetry, DoReplace, DoDeadLetter, DoNeedsAttention:
		default:
			return fmt.Errorf("policy: rule %d (%s): unknown action %q", i, r.Name, r.Do)
		}
	}
	return nil
}

// Deadline is the order's deadline: its own, else MaxAge after it was requested. Past it
// nothing is retried or replaced; the tracker resubmits a refused cart until then.
func (p Policy) Deadline(req schemas.OrderRequested) time.Time {
	if !req.Deadline.IsZero() {
		return req.Deadline
	}
	return req.RequestedAt.Add(p.MaxAge)
}

// Decision is what the policy chose for one failure.
type Decision struct {
	Do     Do
	Rule   string
	Action string // for dead letters: what a person must do
}

// Decide applies the rules and the limits to f. retries is how many delay-tier retries this
// attempt already had.
func (p Policy) Decide(f schemas.OrderFailure, retries int, now time.Time) Decision {
	var rule Rule
	for _, r := range p.Rules {
		if r.matches(f) {
			rule = r
			break
		}
	}
	d := Decision{Do: rule.Do, Rule: rule.Name, Action: f.Action}
	if rule.DeadLetterAction != "" {
		d.Action = rule.DeadLetterAction
	}
	if d.Action == "" {
		d.Action = string(provider.ActionInvestigate)
	}
	deadline := p.Deadline(f.Request)
	switch {
	case d.Do != DoRetry && d.Do != DoReplace:
	case now.After(deadline):
		d = Decision{Do: DoDeadLetter, Rule: rule.Name + "/deadline", Action: ActionDeadlinePassed}
	case d.Do == DoRetry && retries >= p.MaxRetries:
		d = Decision{Do: DoDeadLetter, Rule: rule.Name + "/max-retries", Action: ActionAttemptsExhausted}
	case d.Do == DoReplace && f.Attempt >= p.MaxAttempts:
		d = Decision{Do: DoDeadLetter, Rule: rule.Name + "/max-attempts", Action: ActionAttemptsExhausted}
	}
	return d
}
