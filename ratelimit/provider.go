package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/provider"
)

// countedWait is the shortest wait the metrics count: under a limit far above the load, calls
// reserved in one batch sleep microseconds apart, which is no wait an operator should see.
const countedWait = time.Millisecond

// Provider wraps p so that its calls wait for the shared limits and a 429 blocks every instance.
// A call the limiter stopped returns an error wrapping provider.ErrNotCalled (see limited.call).
func Provider(p provider.Provider, l *Limiter, lim Limits) provider.Provider {
	return &limited{Provider: p, l: l, lim: lim}
}

type limited struct {
	provider.Provider
	l   *Limiter
	lim Limits
}

// call waits for the limit, then runs fn. When the limiter fails (Redis) or ctx ends while it
// waits, the provider was not called: the error wraps provider.ErrNotCalled and is no
// *provider.Error, so it never takes a provider's class nor enters an order's history.
//
// urgent calls finish work already begun (a submit: its cart exists), so a congested limit
// serves them before the others in this process (see seat).
func (p *limited) call(ctx context.Context, tier string, rate float64, urgent bool, fn func() error) error {
	key := p.Name() + ":" + tier
	waited, err := p.l.wait(ctx, key, rate, urgent)
	if m := p.l.metrics; m != nil && waited >= countedWait {
		m.waits.WithLabelValues(p.Name(), tier).Inc()
		m.seconds.WithLabelValues(p.Name(), tier).Add(waited.Seconds())
	}
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrNotCalled, err)
	}
	err = fn()
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Class == provider.ClassRateLimited {
		_ = p.l.Block(ctx, key, pe.RetryAfter)
	}
	return err
}

func (p *limited) CreateCart(ctx context.Context, req provider.CartRequest) (c provider.Cart, err error) {
	err = p.call(ctx, "submit", p.lim.Submit, false, func() error { c, err = p.Provider.CreateCart(ctx, req); return err })
	return c, err
}

func (p *limited) Submit(ctx context.Context, req provider.SubmitRequest) (s provider.Submission, err error) {
	err = p.call(ctx, "submit", p.lim.Submit, true, func() error { s, err = p.Provider.Submit(ctx, req); return err })
	return s, err
}

func (p *limited) Status(ctx context.Context, cartID string) (pl provider.Placement, err error) {
	err = p.call(ctx, "other", p.lim.Other, false, func() error { pl, err = p.Provider.Status(ctx, cartID); return err })
	return pl, err
}
