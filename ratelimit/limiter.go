// Package ratelimit keeps provider rate limits in Redis, so every worker instance shares them,
// and honours the provider's own answers: after a 429 every instance waits out the provider's
// Retry-After / Ratelimit-Reset, not only the one that was refused.
//
// A limit is GCRA without burst, one Redis key per provider tier (gcra.go). A call reserves
// its slot with one Redis call and sleeps until it: waiting costs a timer, not Redis round
// trips. Provider wraps a provider.Provider so the processor stays unaware of limits.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/provider"
)

// Limits are the per-second rates of one provider's tiers. Zero means unlimited. Each
// provider's documented limits are its descriptor's DefaultLimits (provider.Descriptor).
type Limits = provider.Limits

const (
	// horizon is how far ahead of its slot a waiting call may hold a reservation while the
	// limit is congested. Beyond it, this process's waiters queue locally, one of them holding
	// the next reservation (see keyState): a reservation whose caller gives up (shutdown, a
	// lost partition) is spent, and this bounds what a process can waste to about two slots
	// plus horizon's worth of slots, instead of one slot per waiting call.
	horizon = 50 * time.Millisecond
	// blockRefresh is how long an unlimited tier trusts its local copy of the provider's
	// block before reading it again; a 429 answered to this process updates it at once.
	blockRefresh = 250 * time.Millisecond
)

// Limiter is a Redis-held limiter shared by every process using the same Redis and prefix.
type Limiter struct {
	rdb     redis.UniversalClient
	prefix  string
	metrics *Metrics

	mu   sync.Mutex
	keys map[string]*keyState
}

// Option configures a Limiter.
type Option func(*Limiter)

// WithMetrics makes the Limiter's Providers count their waits in m.
func WithMetrics(m *Metrics) Option { return func(l *Limiter) { l.metrics = m } }

// New returns a Limiter on rdb; prefix namespaces its keys.
func New(rdb redis.UniversalClient, prefix string, opts ...Option) *Limiter {
	l := &Limiter{rdb: rdb, prefix: prefix + ":ratelimit:", keys: map[string]*keyState{}}
	for _, o := range opts {
		o(l)
	}
	return l
}

// keyState is what this process knows of one limit. While the limit is congested (the slots
// this process reserved, and those it is reserving, reach beyond horizon) a call takes the
// seat before reserving: the seat's holder reserves, sleeps until horizon before its slot,
// then hands the seat on. Every other waiter sleeps on the seat's channel, at no cost.
type keyState struct {
	seat chan struct{} // capacity 1

	mu      sync.Mutex
	until   time.Time // the furthest slot this process reserved, on the local clock
	pending int       // reservations sent and not answered yet
	// An unlimited tier's copy of the provider's block.
	blockedUntil time.Time
	readAt       time.Time
	reading      bool
}

func (l *Limiter) state(key string) *keyState {
	l.mu.Lock()
	defer l.mu.Unlock()
	ks, ok := l.keys[key]
	if !ok {
		ks = &keyState{seat: make(chan struct{}, 1)}
		l.keys[key] = ks
	}
	return ks
}

// Wait blocks until a call under key at perSecond is allowed, or ctx ends. It also waits out
// a block set by Block. Redis errors and ctx's end are returned (callers fail closed).
func (l *Limiter) Wait(ctx context.Context, key string, perSecond float64) error {
	_, err := l.wait(ctx, key, perSecond)
	return err
}

// wait is Wait, also returning how long it waited. A limited call costs one Redis call;
// an unlimited one none but every blockRefresh.
//
// A reservation whose caller's ctx ends before its slot is spent, not given back: giving it
// back exactly is possible only for the last slot reserved (an earlier one, handed to a later
// caller, would put two calls in one interval), and would cost a second call. The seat keeps
// what is lost small (see horizon). A slot further away than ctx's deadline is not reserved:
// the call fails at once.
func (l *Limiter) wait(ctx context.Context, key string, perSecond float64) (time.Duration, error) {
	start := time.Now()
	slept := false // waited for the seat, a slot or a block: what the metrics count
	waited := func() time.Duration {
		if !slept {
			return 0
		}
		return time.Since(start)
	}
	ks := l.state(key)
	if perSecond <= 0 {
		blocked, err := l.waitBlock(ctx, key, ks)
		if !blocked {
			return 0, err
		}
		return time.Since(start), err
	}
	iv := interval(perSecond)

	ks.mu.Lock()
	now := time.Now()
	congested := ks.until.After(now.Add(horizon)) || time.Duration(ks.pending)*iv > horizon
	if !congested {
		ks.pending++
	}
	ks.mu.Unlock()
	if congested {
		select {
		case ks.seat <- struct{}{}:
		default:
			slept = true
			select {
			case ks.seat <- struct{}{}:
			case <-ctx.Done():
				return waited(), fmt.Errorf("waiting for the rate limit of %s: %w", key, ctx.Err())
			}
		}
		ks.mu.Lock()
		ks.pending++
		ks.mu.Unlock()
	}
	seated := congested
	release := func() {
		if seated {
			seated = false
			<-ks.seat
		}
	}
	defer release()

	maxWait := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl), 0)
	}
	r, err := l.reserve(ctx, key, iv, maxWait)
	ks.mu.Lock()
	ks.pending--
	if err == nil && r.reserved {
		if slot := time.Now().Add(r.wait); slot.After(ks.until) {
			ks.until = slot
		}
	}
	ks.mu.Unlock()
	if err != nil {
		return waited(), err
	}
	if !r.reserved {
		return waited(), fmt.Errorf("waiting for the rate limit of %s: the next slot is %v away, after the deadline: %w",
			key, r.wait, context.DeadlineExceeded)
	}
	slot := time.Now().Add(r.wait)
	slept = slept || r.wait > 0
	if seated {
		if err := sleepUntil(ctx, slot.Add(-horizon)); err != nil {
			return waited(), fmt.Errorf("waiting for the rate limit of %s: %w", key, err)
		}
		release()
	}
	if err := sleepUntil(ctx, slot); err != nil {
		return waited(), fmt.Errorf("waiting for the rate limit of %s: %w", key, err)
	}
	return waited(), nil
}

// waitBlock waits out the provider's block of an unlimited tier, read from Redis at most every
// blockRefresh (by one caller; the others use the copy they find).
// It reports whether there was a block to wait for.
func (l *Limiter) waitBlock(ctx context.Context, key string, ks *keyState) (bool, error) {
	ks.mu.Lock()
	until := ks.blockedUntil
	read := !ks.reading && time.Since(ks.readAt) >= blockRefresh
	if read {
		ks.reading = true
	}
	ks.mu.Unlock()
	if read {
		left, err := leftScript.Run(ctx, l.rdb, []string{l.prefix + key}).Int64()
		ks.mu.Lock()
		ks.reading = false
		if err == nil {
			ks.readAt = time.Now()
			until = ks.readAt.Add(time.Duration(left) * time.Microsecond)
			ks.blockedUntil = until
		}
		ks.mu.Unlock()
		if err != nil {
			return false, fmt.Errorf("reading the rate-limit block of %s: %w", key, err)
		}
	}
	blocked := time.Now().Before(until)
	if err := sleepUntil(ctx, until); err != nil {
		return blocked, fmt.Errorf("waiting for the rate-limit block of %s: %w", key, err)
	}
	return blocked, nil
}

// Block makes every Wait on key wait until d from now (a provider's 429 answer): the limit's
// next slot moves to the block's end, for every process; this process's copy of the block
// (an unlimited tier's) is updated at once.
func (l *Limiter) Block(ctx context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	ks := l.state(key)
	ks.mu.Lock()
	if until := time.Now().Add(d); until.After(ks.blockedUntil) {
		ks.blockedUntil = until
	}
	ks.mu.Unlock()
	if err := blockScript.Run(ctx, l.rdb, []string{l.prefix + key}, d.Microseconds()).Err(); err != nil {
		return fmt.Errorf("blocking the rate limit of %s: %w", key, err)
	}
	return nil
}

// sleepUntil sleeps until t (now or past: not at all), or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
