// Package ratelimit keeps provider rate limits in Redis, so every worker instance shares them,
// and honours the provider's own answers: after a 429 every instance waits out the provider's
// Retry-After / Ratelimit-Reset, not only the one that was refused.
//
// The limiter is GCRA from github.com/go-redis/redis_rate. Provider wraps a provider.Provider
// so the processor stays unaware of limits.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/promreg"
	"github.com/orderflow/orderflow/provider"
)

// Limits are the per-second rates of one provider's tiers. Zero means unlimited. Each
// provider's documented limits are its descriptor's DefaultLimits (provider.Descriptor).
type Limits = provider.Limits

// DefaultMaxWaitTime is kept for callers of earlier releases; the limiter does not read it.
var DefaultMaxWaitTime = 30 * time.Second

// Limiter is a Redis-held limiter shared by every process using the same Redis and prefix.
type Limiter struct {
	rdb     redis.UniversalClient
	lim     *redis_rate.Limiter
	prefix  string
	metrics *Metrics
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithMetrics makes the Limiter's Providers count their waits in m.
func WithMetrics(m *Metrics) Option { return func(l *Limiter) { l.metrics = m } }

// New returns a Limiter on rdb; prefix namespaces its keys.
func New(rdb redis.UniversalClient, prefix string, opts ...Option) *Limiter {
	l := &Limiter{rdb: rdb, lim: redis_rate.NewLimiter(rdb), prefix: prefix + ":ratelimit:"}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Metrics count the waits the limits imposed on provider calls.
type Metrics struct {
	waits   *prometheus.CounterVec
	seconds *prometheus.CounterVec
}

// NewMetrics registers the rate-limit metrics with reg; nil registers nowhere.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_ratelimit_waits_total",
			Help: "Provider calls that waited for a shared rate limit or a provider's 429 block, by provider and tier (submit, other)."},
			[]string{"provider", "tier"}),
		seconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_ratelimit_wait_seconds_total",
			Help: "Seconds provider calls spent waiting for a shared rate limit or a provider's 429 block, by provider and tier."},
			[]string{"provider", "tier"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.waits, err = promreg.Register(reg, m.waits); err != nil {
		return nil, err
	}
	if m.seconds, err = promreg.Register(reg, m.seconds); err != nil {
		return nil, err
	}
	return m, nil
}

// Wait blocks until a call under key at perSecond is allowed, or ctx ends. It also waits out
// a block set by Block. Redis errors and ctx's end are returned (callers fail closed).
func (l *Limiter) Wait(ctx context.Context, key string, perSecond float64) error {
	_, err := l.wait(ctx, key, perSecond)
	return err
}

// wait is Wait, also returning how long it slept.
func (l *Limiter) wait(ctx context.Context, key string, perSecond float64) (waited time.Duration, err error) {
	for {
		wait, err := l.blockedFor(ctx, key)
		if err != nil {
			return waited, err
		}
		if wait <= 0 && perSecond > 0 {
			res, err := l.lim.Allow(ctx, l.prefix+key, limit(perSecond))
			if err != nil {
				return waited, fmt.Errorf("rate limiting %s: %w", key, err)
			}
			if res.Allowed > 0 {
				return waited, nil
			}
			wait = res.RetryAfter
		}
		if wait <= 0 {
			return waited, nil
		}
		start := time.Now()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return waited + time.Since(start), fmt.Errorf("waiting for the rate limit of %s: %w", key, ctx.Err())
		case <-t.C:
		}
		waited += time.Since(start)
	}
}

// limit turns a per-second rate into a redis_rate limit; fractional rates use a longer period.
func limit(perSecond float64) redis_rate.Limit {
	if perSecond >= 1 {
		return redis_rate.Limit{Rate: int(perSecond), Burst: int(perSecond), Period: time.Second}
	}
	return redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Duration(float64(time.Second) / perSecond)}
}

// Block makes every Wait on key wait until d from now (a provider's 429 answer).
func (l *Limiter) Block(ctx context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	// The value is the unix-ms end of the block (the TTL only cleans up); only ever extend it.
	until := time.Now().Add(d).UnixMilli()
	return blockScript.Run(ctx, l.rdb, []string{l.prefix + "block:" + key}, until, d.Milliseconds()).Err()
}

var blockScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`)

func (l *Limiter) blockedFor(ctx context.Context, key string) (time.Duration, error) {
	until, err := l.rdb.Get(ctx, l.prefix+"block:"+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the rate-limit block of %s: %w", key, err)
	}
	return time.Until(time.UnixMilli(until)), nil
}

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
func (p *limited) call(ctx context.Context, tier string, rate float64, fn func() error) error {
	key := p.Name() + ":" + tier
	waited, err := p.l.wait(ctx, key, rate)
	if m := p.l.metrics; m != nil && waited > 0 {
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
	err = p.call(ctx, "submit", p.lim.Submit, func() error { c, err = p.Provider.CreateCart(ctx, req); return err })
	return c, err
}

func (p *limited) Submit(ctx context.Context, req provider.SubmitRequest) (s provider.Submission, err error) {
	err = p.call(ctx, "submit", p.lim.Submit, func() error { s, err = p.Provider.Submit(ctx, req); return err })
	return s, err
}

func (p *limited) Status(ctx context.Context, cartID string) (pl provider.Placement, err error) {
	err = p.call(ctx, "other", p.lim.Other, func() error { pl, err = p.Provider.Status(ctx, cartID); return err })
	return pl, err
}
