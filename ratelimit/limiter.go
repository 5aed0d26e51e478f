// Package ratelimit keeps provider rate limits in Redis, so every worker instance shares them,
// and honours the provider's own answers: after a 429 every instance waits out the provider's
// Retry-After / Ratelimit-Reset, not only the one that was refused.
//
// A limit is GCRA without burst, one Redis key per provider tier (gcra.go). A call reserves
// its slot with one Redis call, shared with the calls reserving at the same moment (a batch),
// and sleeps until it: waiting costs a timer, not Redis round trips. Provider wraps a
// provider.Provider so the processor stays unaware of limits.
package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/coalesce"
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
// then hands the seat on. Every other waiter sleeps until the seat is handed to it, at no
// cost.
type keyState struct {
	seat seat

	mu      sync.Mutex
	until   time.Time // the furthest slot this process reserved, on the local clock
	pending int       // reservations sent and not answered yet
	// batch sends the reservations of calls arriving together in one Redis call (made at the
	// first limited call, for its rate; see reserveBatched).
	batch *coalesce.Batcher[time.Duration, reservation]
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
		ks = &keyState{}
		l.keys[key] = ks
	}
	return ks
}

// Wait blocks until a call under key at perSecond is allowed, or ctx ends. It also waits out
// a block set by Block. Redis errors and ctx's end are returned (callers fail closed).
func (l *Limiter) Wait(ctx context.Context, key string, perSecond float64) error {
	_, err := l.wait(ctx, key, perSecond, false)
	return err
}

// seat is held by one call at a time. Calls waiting for it get it urgent ones first, in
// arrival order within each kind: under a congested limit, a call that finishes work already
// begun (submitting a cart that exists) goes before one that begins new work (creating a
// cart), so queued orders complete one by one instead of all creating carts first.
type seat struct {
	mu      sync.Mutex
	held    bool
	waiting [2][]chan struct{} // [0] urgent, [1] the others; closed when handed the seat
}

func (s *seat) take(ctx context.Context, urgent bool) (waited bool, err error) {
	s.mu.Lock()
	if !s.held {
		s.held = true
		s.mu.Unlock()
		return false, nil
	}
	kind := 1
	if urgent {
		kind = 0
	}
	ch := make(chan struct{})
	s.waiting[kind] = append(s.waiting[kind], ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return true, nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if i := slices.Index(s.waiting[kind], ch); i >= 0 {
		s.waiting[kind] = slices.Delete(s.waiting[kind], i, i+1)
		s.mu.Unlock()
		return true, ctx.Err()
	}
	s.mu.Unlock()
	s.release() // handed to this call as its context ended: on to the next
	return true, ctx.Err()
}

// release hands the seat to the first urgent waiter, else the first other one, else frees it.
func (s *seat) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, w := range s.waiting {
		if len(w) > 0 {
			close(w[0])
			s.waiting[k] = w[1:]
			return
		}
	}
	s.held = false
}

// wait is Wait, also returning how long it slept for the seat, its slot or a block (the
// reservation's round trip is not a wait); urgent calls get the seat first (see seat). A
// limited call costs at most one Redis call (a batch's: see reserveBatched); an unlimited one
// none but every blockRefresh.
//
// A reservation whose caller's ctx ends before its slot is spent, not given back: giving it
// back exactly is possible only for the last slot reserved (an earlier one, handed to a later
// caller, would put two calls in one interval), and would cost a second call. The seat keeps
// what is lost small (see horizon). A slot further away than ctx's deadline is not reserved:
// the call fails at once.
func (l *Limiter) wait(ctx context.Context, key string, perSecond float64, urgent bool) (time.Duration, error) {
	var slept time.Duration
	sleep := func(until time.Time) error {
		d := time.Until(until)
		err := sleepUntil(ctx, until)
		slept += max(d, 0)
		return err
	}
	ks := l.state(key)
	if perSecond <= 0 {
		until, err := l.block(ctx, key, ks)
		if err != nil {
			return 0, err
		}
		if err := sleep(until); err != nil {
			return slept, fmt.Errorf("waiting for the rate-limit block of %s: %w", key, err)
		}
		return slept, nil
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
		start := time.Now()
		waited, err := ks.seat.take(ctx, urgent)
		if waited {
			slept += time.Since(start)
		}
		if err != nil {
			return slept, fmt.Errorf("waiting for the rate limit of %s: %w", key, err)
		}
		ks.mu.Lock()
		ks.pending++
		ks.mu.Unlock()
	}
	seated := congested
	release := func() {
		if seated {
			seated = false
			ks.seat.release()
		}
	}
	defer release()

	maxWait := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl), 0)
	}
	r, err := l.reserveBatched(ctx, key, ks, iv, maxWait)
	ks.mu.Lock()
	ks.pending--
	if err == nil && r.reserved {
		if slot := time.Now().Add(r.wait); slot.After(ks.until) {
			ks.until = slot
		}
	}
	ks.mu.Unlock()
	if err != nil {
		return slept, err
	}
	if !r.reserved {
		return slept, fmt.Errorf("waiting for the rate limit of %s: the next slot is %v away, after the deadline: %w",
			key, r.wait, context.DeadlineExceeded)
	}
	slot := time.Now().Add(r.wait)
	if seated {
		if err := sleep(slot.Add(-horizon)); err != nil {
			return slept, fmt.Errorf("waiting for the rate limit of %s: %w", key, err)
		}
		release()
	}
	if err := sleep(slot); err != nil {
		return slept, fmt.Errorf("waiting for the rate limit of %s: %w", key, err)
	}
	return slept, nil
}

// reserveTimeout bounds one reservation call of a batch (it serves several callers, so no
// single caller's context governs it).
const reserveTimeout = 5 * time.Second

// reserveBatched reserves one slot under key: the calls arriving while a reservation call is in
// flight go together in the next one (coalesce), so under load a Redis call serves many
// provider calls, at most horizon's worth of slots, so a batch whose callers give up spends
// little. At a low rate (an interval of horizon or more) every batch is one call. A caller
// whose ctx ends while its batch is out returns at once; its slot, if reserved, is spent.
func (l *Limiter) reserveBatched(ctx context.Context, key string, ks *keyState, iv, maxWait time.Duration) (reservation, error) {
	ks.mu.Lock()
	if ks.batch == nil {
		ks.batch = coalesce.New(int(horizon/iv), reserveTimeout, func(ctx context.Context, maxWaits []time.Duration) ([]reservation, error) {
			return l.reserve(ctx, key, iv, maxWaits)
		})
	}
	b := ks.batch
	ks.mu.Unlock()
	r, err := b.Do(ctx, maxWait)
	if err != nil && ctx.Err() != nil {
		return r, fmt.Errorf("rate limiting %s: %w", key, err)
	}
	return r, err
}

// block is the end of the provider's block of an unlimited tier (past or zero: none), read
// from Redis at most every blockRefresh (by one caller; the others use the copy they find).
func (l *Limiter) block(ctx context.Context, key string, ks *keyState) (time.Time, error) {
	ks.mu.Lock()
	until := ks.blockedUntil
	read := !ks.reading && time.Since(ks.readAt) >= blockRefresh
	if read {
		ks.reading = true
	}
	ks.mu.Unlock()
	if !read {
		return until, nil
	}
	left, err := leftScript.Run(ctx, l.rdb, []string{l.prefix + key}).Int64()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.reading = false
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the rate-limit block of %s: %w", key, err)
	}
	ks.readAt = time.Now()
	until = ks.readAt.Add(time.Duration(left) * time.Microsecond)
	// A 429 answered here while the read was out (Block) may have set a later end.
	if until.After(ks.blockedUntil) {
		ks.blockedUntil = until
	}
	return ks.blockedUntil, nil
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
