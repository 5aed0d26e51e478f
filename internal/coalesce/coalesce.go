// Package coalesce sends the requests of concurrent callers together: while one batch is out,
// the requests that arrive queue, and the next batch carries them all (up to a limit) in one
// call. Under load a Redis round trip then serves many callers; alone, a caller's request goes
// at once, as a batch of one. The rate limiter's reservations (ratelimit) and the idempotency
// store's reads (idempotency.Store.Get) use it.
package coalesce

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Batcher batches the requests of type In given to Do into calls of send.
type Batcher[In, Out any] struct {
	send    func(ctx context.Context, in []In) ([]Out, error)
	limit   int
	timeout time.Duration

	mu       sync.Mutex
	queue    []*call[In, Out]
	flushing bool
}

type call[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{} // closed when out and err are set
}

// New returns a Batcher whose batches hold at most limit requests (at least 1) and whose send
// calls each get timeout (a batch serves several callers, so no caller's context governs it).
// send must answer one Out per In, in order, or an error for the whole batch.
func New[In, Out any](limit int, timeout time.Duration, send func(ctx context.Context, in []In) ([]Out, error)) *Batcher[In, Out] {
	return &Batcher[In, Out]{send: send, limit: max(1, limit), timeout: timeout}
}

// Do queues in, and returns its answer once the batch carrying it is answered. A caller whose
// ctx ends first returns ctx's error at once; its request, if already sent, is not taken back.
func (b *Batcher[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	c := &call[In, Out]{in: in, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	start := !b.flushing
	b.flushing = true
	b.mu.Unlock()
	if start {
		go b.flush()
	}
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// Queued is how many requests wait for a batch (not counting the one out).
func (b *Batcher[In, Out]) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// flush sends the queued requests, a batch at a time, until none is left.
func (b *Batcher[In, Out]) flush() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), b.limit)
		if n == 0 {
			b.flushing = false
			b.queue = nil
			b.mu.Unlock()
			return
		}
		batch := slices.Clone(b.queue[:n])
		clear(b.queue[:n])
		b.queue = b.queue[n:]
		b.mu.Unlock()
		in := make([]In, n)
		for i, c := range batch {
			in[i] = c.in
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
		out, err := b.send(ctx, in)
		cancel()
		if err == nil && len(out) != n {
			err = fmt.Errorf("coalesce: %d answers for %d requests", len(out), n)
		}
		for i, c := range batch {
			if err == nil {
				c.out = out[i]
			}
			c.err = err
			close(c.done)
		}
	}
}
