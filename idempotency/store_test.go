package idempotency

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/testenv"
)

// backends runs the contract suite on miniredis and, when ORDERFLOW_TEST_REDIS is set, on a
// real redis-server (testenv.RedisURL). Prefixes start with "orderflow": the test ACL user may
// touch only those keys.
func backends(t *testing.T) map[string]func(t *testing.T) redis.UniversalClient {
	b := map[string]func(t *testing.T) redis.UniversalClient{
		"miniredis": func(t *testing.T) redis.UniversalClient {
			mr := miniredis.RunT(t)
			return redis.NewClient(&redis.Options{Addr: mr.Addr()})
		},
	}
	if testenv.RedisURL() != "" {
		b["redis-server"] = func(t *testing.T) redis.UniversalClient {
			opt := testenv.RedisOptions(t)
			rdb := redis.NewClient(opt)
			if err := rdb.Ping(context.Background()).Err(); err != nil {
				t.Fatalf("ORDERFLOW_TEST_REDIS (%s, user %q) is set but unreachable: %v", opt.Addr, opt.Username, err)
			}
			t.Cleanup(func() { rdb.Close() })
			return rdb
		}
	}
	return b
}

func TestStoreContract(t *testing.T) {
	for name, newClient := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			newStore := func(t *testing.T, lease time.Duration) *Store {
				s, err := New(newClient(t), Config{Prefix: fmt.Sprintf("orderflow-test-%s-%d", t.Name(), time.Now().UnixNano()), Lease: lease})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}

			t.Run("happy path records the cart before submit", func(t *testing.T) {
				s := newStore(t, time.Minute)
				r, err := s.Acquire(ctx, "o1", 1, "fp", "w1")
				if err != nil || r.State != StateReserved || r.Fence != 1 {
					t.Fatalf("acquire = %+v, %v", r, err)
				}
				r, err = s.Transition(ctx, r, StateCartCreated, Change{CartID: "cart-1"}, StateReserved)
				if err != nil || r.CartID != "cart-1" {
					t.Fatalf("cart_created = %+v, %v", r, err)
				}
				r, err = s.Transition(ctx, r, StateSubmitting, Change{}, StateCartCreated)
				if err != nil || r.Submits != 1 {
					t.Fatalf("submitting = %+v, %v", r, err)
				}
				if _, err := s.Transition(ctx, r, StateSubmitting, Change{}, StateCartCreated); !errors.Is(err, ErrState) {
					t.Fatalf("second move to submitting: err = %v, want ErrState", err)
				}
				r, err = s.Transition(ctx, r, StateTerminal, Change{Outcome: "placed", OutcomeData: []byte("ev")}, StateSubmitting)
				if err != nil {
					t.Fatal(err)
				}
				// A duplicate sees the terminal record without a lease and its stored outcome.
				dup, err := s.Acquire(ctx, "o1", 1, "fp", "w2")
				if err != nil || dup.State != StateTerminal || dup.Fence != 0 || dup.Outcome != "placed" || string(dup.OutcomeData) != "ev" || dup.CartID != "cart-1" {
					t.Fatalf("duplicate acquire = %+v, %v", dup, err)
				}
				if err := s.SetOutcome(ctx, "o1", 1, "dead_lettered", []byte("dl")); err != nil {
					t.Fatal(err)
				}
				got, _ := s.Get(ctx, "o1", 1)
				if got.Outcome != "dead_lettered" || got.Submits != 1 {
					t.Fatalf("after SetOutcome: %+v", got)
				}
			})

			t.Run("different payload is refused", func(t *testing.T) {
				s := newStore(t, time.Minute)
				if _, err := s.Acquire(ctx, "o2", 1, "fp-a", "w1"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Acquire(ctx, "o2", 1, "fp-b", "w1"); !errors.Is(err, ErrConflict) {
					t.Fatalf("err = %v, want ErrConflict", err)
				}
			})

			t.Run("live lease is exclusive, an expired one is taken over and fences the zombie", func(t *testing.T) {
				s := newStore(t, 300*time.Millisecond)
				zombie, err := s.Acquire(ctx, "o3", 1, "fp", "w1")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Acquire(ctx, "o3", 1, "fp", "w2"); !errors.Is(err, ErrBusy) {
					t.Fatalf("err = %v, want ErrBusy", err)
				}
				var next Record
				deadline := time.Now().Add(5 * time.Second)
				for {
					next, err = s.Acquire(ctx, "o3", 1, "fp", "w2")
					if err == nil || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond) // waiting out a real lease expiry
				}
				if err != nil || next.Fence != zombie.Fence+1 {
					t.Fatalf("takeover = %+v, %v", next, err)
				}
				if _, err := s.Transition(ctx, zombie, StateCartCreated, Change{CartID: "zombie-cart"}, StateReserved); !errors.Is(err, ErrFenced) {
					t.Fatalf("zombie transition: err = %v, want ErrFenced", err)
				}
				if _, err := s.Transition(ctx, next, StateCartCreated, Change{CartID: "cart"}, StateReserved); err != nil {
					t.Fatal(err)
				}
			})

			t.Run("concurrent acquirers: exactly one wins", func(t *testing.T) {
				s := newStore(t, time.Minute)
				var wg sync.WaitGroup
				var mu sync.Mutex
				wins := 0
				for i := range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := s.Acquire(ctx, "o4", 1, "fp", "w"+string(rune('a'+i))); err == nil {
							mu.Lock()
							wins++
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				if wins != 1 {
					t.Fatalf("%d acquirers won, want 1", wins)
				}
			})

			t.Run("finish ends a submitted attempt of its chain only, in one call", func(t *testing.T) {
				s := newStore(t, time.Minute)
				r, err := s.Acquire(ctx, "o6", 1, "fp", "w1")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Finish(ctx, Record{Key: s.Key("o6", 1), Chain: 0}, "fp", "t1", Change{Outcome: "placed"}); !errors.Is(err, ErrState) {
					t.Fatalf("finish of a reserved attempt: err = %v, want ErrState", err)
				}
				if _, err := s.Finish(ctx, Record{Key: s.Key("o7", 1), Chain: 0}, "fp", "t1", Change{Outcome: "placed"}); !errors.Is(err, ErrState) {
					t.Fatalf("finish of a missing attempt: err = %v, want ErrState", err)
				}
				if r, err = s.Transition(ctx, r, StateSubmitting, Change{CartID: "cart-6"}, StateReserved); err != nil {
					t.Fatal(err)
				}
				if r, err = s.Transition(ctx, r, StateSubmitted, Change{Chain: r.Fence, Release: true}, StateSubmitting); err != nil {
					t.Fatal(err)
				}
				// w1's lease is released with the hand-over; w2 takes it (a resubmitter).
				w2, err := s.Acquire(ctx, "o6", 1, "fp", "w2")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.Finish(ctx, Record{Key: s.Key("o6", 1), Chain: r.Fence}, "fp", "t1", Change{Outcome: "placed"}); !errors.Is(err, ErrBusy) {
					t.Fatalf("finish under another live lease: err = %v, want ErrBusy", err)
				}
				if _, err := s.Transition(ctx, w2, StateSubmitted, Change{Release: true}, StateSubmitted); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Finish(ctx, Record{Key: s.Key("o6", 1), Chain: r.Fence + 5}, "fp", "t1", Change{Outcome: "placed"}); !errors.Is(err, ErrState) {
					t.Fatalf("finish under another chain: err = %v, want ErrState", err)
				}
				if _, err := s.Finish(ctx, Record{Key: s.Key("o6", 1), Chain: r.Fence}, "other", "t1", Change{Outcome: "placed"}); !errors.Is(err, ErrConflict) {
					t.Fatalf("finish with another fingerprint: err = %v, want ErrConflict", err)
				}
				got, err := s.Finish(ctx, Record{Key: s.Key("o6", 1), Chain: r.Fence}, "fp", "t1", Change{Outcome: "placed", OutcomeData: []byte("ev")})
				if err != nil || got.State != StateTerminal || got.Outcome != "placed" || string(got.OutcomeData) != "ev" || got.Fence <= w2.Fence {
					t.Fatalf("finish = %+v, %v", got, err)
				}
				// The lease went with the move: the zombie w2 is fenced, a duplicate sees the outcome.
				if _, err := s.Transition(ctx, w2, StateSubmitting, Change{}, StateSubmitted); !errors.Is(err, ErrFenced) {
					t.Fatalf("zombie after finish: err = %v, want ErrFenced", err)
				}
				if dup, err := s.Acquire(ctx, "o6", 1, "fp", "w3"); err != nil || dup.State != StateTerminal || dup.Fence != 0 {
					t.Fatalf("acquire after finish = %+v, %v", dup, err)
				}
			})
			t.Run("history keeps order", func(t *testing.T) {
				s := newStore(t, time.Minute)
				for _, e := range []string{"a", "b", "c"} {
					if err := s.AppendHistory(ctx, "o5", []byte(e)); err != nil {
						t.Fatal(err)
					}
				}
				h, err := s.History(ctx, "o5")
				if err != nil || len(h) != 3 || string(h[0]) != "a" || string(h[2]) != "c" {
					t.Fatalf("history = %q, %v", h, err)
				}
			})
		})
	}
}

func TestUnavailableFailsClosed(t *testing.T) {
	mr := miniredis.RunT(t)
	s, err := New(redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1}), Config{})
	if err != nil {
		t.Fatal(err)
	}
	mr.Close()
	if _, err := s.Acquire(context.Background(), "o", 1, "fp", "w"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

// Two stores on one Redis with different prefixes (two deployments) share nothing: an attempt,
// its history and its allocations in one are absent from the other, and the same order attempt
// with another payload is no conflict there.
func TestPrefixesKeepDeploymentsApart(t *testing.T) {
	for name, newClient := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rdb := newClient(t)
			run := fmt.Sprintf("orderflow-test-ns-%d", time.Now().UnixNano())
			a, errA := New(rdb, Config{Prefix: run + ":a"})
			b, errB := New(rdb, Config{Prefix: run + ":b"})
			if err := errors.Join(errA, errB); err != nil {
				t.Fatal(err)
			}
			r, err := a.Acquire(ctx, "o", 1, "fp-a", "w")
			if err == nil {
				_, err = a.Transition(ctx, r, StateTerminal, Change{CartID: "cart-a", Outcome: "placed"}, StateReserved)
			}
			if err == nil {
				err = a.AppendHistory(ctx, "o", []byte("a"))
			}
			if err == nil {
				_, err = a.AllocateAttempt(ctx, "o", "failure-a", 1)
			}
			if err != nil {
				t.Fatal(err)
			}
			rb, err := b.Acquire(ctx, "o", 1, "fp-b", "w")
			if err != nil || rb.State != StateReserved || rb.CartID != "" {
				t.Fatalf("b acquires %+v, %v; want a new reserved attempt of its own", rb, err)
			}
			h, _ := b.History(ctx, "o")
			al, _ := b.Allocations(ctx, "o")
			if len(h) != 0 || al.Highest != 0 {
				t.Fatalf("b sees history %q and allocations %+v of a", h, al)
			}
			if n, _ := b.AllocateAttempt(ctx, "o", "failure-b", 1); n != 2 {
				t.Fatalf("b allocated attempt %d, want 2 (its own first replacement)", n)
			}
		})
	}
}

// pipelineCount counts the pipelines of HGETALLs sent, and holds the first until release is closed.
type pipelineCount struct {
	mu        sync.Mutex
	pipelines int
	release   chan struct{}
}

func (h *pipelineCount) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipelineCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipelineCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || cmds[0].Name() != "hgetall" {
			return next(ctx, cmds) // a new connection's handshake
		}
		h.mu.Lock()
		h.pipelines++
		first := h.pipelines == 1
		h.mu.Unlock()
		if first {
			<-h.release
		}
		return next(ctx, cmds)
	}
}

// Gets made while a read is out share the next pipeline: 20 concurrent Gets of 20 attempts
// cost two round trips (the first alone, held until the others queued), and each reads its own
// attempt, a missing one included.
func TestConcurrentGetsShareOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s, err := New(rdb, Config{Prefix: "orderflow-test-gets"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for i := 1; i < n; i++ { // attempt 0 stays missing
		if _, err := s.Acquire(ctx, fmt.Sprintf("o%d", i), 1, "fp", "w1"); err != nil {
			t.Fatal(err)
		}
	}
	h := &pipelineCount{release: make(chan struct{})}
	rdb.AddHook(h)
	got := make([]Record, n)
	var wg sync.WaitGroup
	get := func(i int) {
		defer wg.Done()
		r, err := s.Get(ctx, fmt.Sprintf("o%d", i), 1)
		if err != nil {
			t.Error(err)
		}
		got[i] = r
	}
	wg.Add(1)
	go get(0)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		sent := h.pipelines
		h.mu.Unlock()
		if sent == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first Get sent nothing")
		}
	}
	for i := 1; i < n; i++ {
		wg.Add(1)
		go get(i)
	}
	for deadline := time.Now().Add(5 * time.Second); s.gets.Queued() < n-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d Gets queued, want %d", s.gets.Queued(), n-1)
		}
	}
	close(h.release)
	wg.Wait()
	if h.pipelines != 2 {
		t.Errorf("%d Gets sent %d pipelines, want 2", n, h.pipelines)
	}
	if got[0].State != StateNone {
		t.Errorf("missing attempt read as %q", got[0].State)
	}
	for i := 1; i < n; i++ {
		if got[i].State != StateReserved || got[i].Key != s.Key(fmt.Sprintf("o%d", i), 1) {
			t.Errorf("Get %d = %+v, want attempt o%d reserved", i, got[i], i)
		}
	}
}
