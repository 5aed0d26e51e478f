package ratelimit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/provider"
)

type rateLimitedOnce struct {
	provider.Provider
	calls atomic.Int64
}

func (p *rateLimitedOnce) Name() string { return "fake" }
func (p *rateLimitedOnce) Submit(context.Context, provider.SubmitRequest) (provider.Submission, error) {
	if p.calls.Add(1) == 1 {
		return provider.Submission{}, &provider.Error{Class: provider.ClassRateLimited, RetryAfter: 500 * time.Millisecond}
	}
	return provider.Submission{CartID: "c"}, nil
}

// A 429 seen by one instance makes the other wait out the provider's Retry-After.
func TestRateLimitedAnswerBlocksEveryInstance(t *testing.T) {
	for name, rdb := range redisClients(t) {
		t.Run(name, func(t *testing.T) {
			prefix := "orderflow-test-rl-" + t.Name() + time.Now().Format("150405.000000")
			fake := &rateLimitedOnce{}
			a := Provider(fake, New(rdb, prefix), Limits{})
			b := Provider(fake, New(rdb, prefix), Limits{})
			ctx := context.Background()
			if _, err := a.Submit(ctx, provider.SubmitRequest{}); provider.ClassOf(err) != provider.ClassRateLimited {
				t.Fatalf("first call: %v, want rate limited", err)
			}
			start := time.Now()
			if _, err := b.Submit(ctx, provider.SubmitRequest{}); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < 400*time.Millisecond {
				t.Fatalf("the other instance called after %v, before the provider's 500ms Retry-After", el)
			}
		})
	}
}

type countingProvider struct {
	provider.Provider
	calls atomic.Int64
}

func (p *countingProvider) Name() string { return "fake" }
func (p *countingProvider) Submit(context.Context, provider.SubmitRequest) (provider.Submission, error) {
	p.calls.Add(1)
	return provider.Submission{CartID: "c"}, nil
}

// A limiter that can not answer (Redis fails) or a context that ends while waiting stops the
// call, and the error says the provider was not called: it is no provider answer (no
// *provider.Error, no class), so the processor never records it in an order's history.
func TestLimiterFailureIsNotAProviderAnswer(t *testing.T) {
	for name, rdb := range redisClients(t) {
		t.Run(name, func(t *testing.T) {
			prefix := "orderflow-test-rl-" + t.Name() + time.Now().Format("150405.000000")
			t.Run("context ends while waiting", func(t *testing.T) {
				fake := &countingProvider{}
				l := New(rdb, prefix)
				if err := l.Block(context.Background(), "fake:submit", time.Hour); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				_, err := Provider(fake, l, Limits{Submit: 10}).Submit(ctx, provider.SubmitRequest{})
				wantNotCalled(t, err, fake)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v, want it to wrap the context's error", err)
				}
			})
		})
	}
	t.Run("redis fails", func(t *testing.T) {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
		t.Cleanup(func() { rdb.Close() })
		mr.SetError("LOADING Redis is loading the dataset in memory")
		for _, lim := range []Limits{{}, {Submit: 10}} { // the block check, and the GCRA step
			fake := &countingProvider{}
			_, err := Provider(fake, New(rdb, "rl"), lim).Submit(context.Background(), provider.SubmitRequest{})
			wantNotCalled(t, err, fake)
		}
	})
}

func wantNotCalled(t *testing.T, err error, fake *countingProvider) {
	t.Helper()
	var pe *provider.Error
	switch {
	case !errors.Is(err, provider.ErrNotCalled):
		t.Errorf("err = %v, want provider.ErrNotCalled", err)
	case errors.As(err, &pe):
		t.Errorf("err = %v is a provider answer of class %v; the provider was never called", err, pe.Class)
	case fake.calls.Load() != 0:
		t.Errorf("the provider was called %d times", fake.calls.Load())
	}
}
