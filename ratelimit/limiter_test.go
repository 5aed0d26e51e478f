package ratelimit

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/testenv"
)

// commands is a go-redis hook counting the commands sent (count) and keeping the slots the reserve
// script granted (µs of the Redis server's clock).
type commands struct {
	n     atomic.Int64
	mu    sync.Mutex
	slots []int64
}

func (c *commands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		err := next(ctx, cmd)
		if r, ok := cmd.(*redis.Cmd); ok && err == nil && (cmd.Name() == "evalsha" || cmd.Name() == "eval") {
			if v, err := r.Int64Slice(); err == nil && len(v)%3 == 0 && isReserve(cmd) {
				c.mu.Lock()
				for i := 0; i < len(v); i += 3 {
					if v[i] == 1 {
						c.slots = append(c.slots, v[i+2])
					}
				}
				c.mu.Unlock()
			}
		}
		return err
	}
}

func (c *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}

// isReserve reports whether cmd runs reserveScript.
func isReserve(cmd redis.Cmder) bool {
	args := cmd.Args()
	return len(args) > 1 && (args[1] == reserveScript.Hash() || args[1] == reserveScriptSource)
}

// reserveOne reserves one slot (a batch of one).
func (l *Limiter) reserveOne(ctx context.Context, key string, iv, maxWait time.Duration) (reservation, error) {
	rs, err := l.reserve(ctx, key, iv, []time.Duration{maxWait})
	if err != nil {
		return reservation{}, err
	}
	return rs[0], nil
}

// count counts cmd unless it is part of a new connection's handshake (go-redis sends HELLO,
// AUTH, SELECT and CLIENT SETINFO on every connection it opens): those are per connection.
func (c *commands) count(cmd redis.Cmder) {
	switch cmd.Name() {
	case "hello", "auth", "select", "client":
	default:
		c.n.Add(1)
	}
}

func (c *commands) granted() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(slices.Values(c.slots))
}

// backend is a Redis the tests run on: miniredis, and the real redis-server when
// ORDERFLOW_TEST_REDIS is set (internal/testenv).
type backend struct {
	t       *testing.T
	options func() *redis.Options
}

func backends(t *testing.T) map[string]backend {
	mr := miniredis.RunT(t)
	out := map[string]backend{"miniredis": {t, func() *redis.Options { return &redis.Options{Addr: mr.Addr()} }}}
	if testenv.RedisOptions(t) != nil {
		out["redis-server"] = backend{t, func() *redis.Options { return testenv.RedisOptions(t) }}
	}
	return out
}

// redisClients is a client of each backend.
func redisClients(t *testing.T) map[string]redis.UniversalClient {
	out := map[string]redis.UniversalClient{}
	for name, b := range backends(t) {
		out[name] = b.client()
	}
	return out
}

func (b backend) client() redis.UniversalClient {
	cl := redis.NewClient(b.options())
	b.t.Cleanup(func() { cl.Close() })
	return cl
}

// hooked is a new client of b counting its commands.
func (b backend) hooked() (redis.UniversalClient, *commands) {
	c := &commands{}
	cl := redis.NewClient(b.options())
	cl.AddHook(c)
	b.t.Cleanup(func() { cl.Close() })
	return cl, c
}

func testPrefix(t *testing.T) string {
	return fmt.Sprintf("orderflow-test-rl-%s-%d", t.Name(), time.Now().UnixNano())
}

// warm loads the scripts (the first EVALSHA of a script Redis does not know is followed by an
// EVAL): what every later call costs is then the steady state.
func warm(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []*redis.Script{reserveScript, blockScript, leftScript} {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// assertSpaced fails when two granted slots are closer than one interval: then some window of
// one second would hold more than the rate's calls.
func assertSpaced(t *testing.T, slots []int64, iv time.Duration) {
	t.Helper()
	for i := 1; i < len(slots); i++ {
		if d := time.Duration(slots[i]-slots[i-1]) * time.Microsecond; d < iv {
			t.Fatalf("slots %d and %d are %v apart, less than the interval %v", i-1, i, d, iv)
		}
	}
}

// The reserve script on a frozen Redis clock (miniredis.SetTime): every reservation from two
// limiters sharing the key gets its own slot one interval after the previous one, so a window of
// one second holds the rate's slots less the headroom, never more, and no slot is left unused.
func TestReservedSlotsFillTheRateExactly(t *testing.T) {
	mr := miniredis.RunT(t)
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	mr.SetTime(t0)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	a, b := New(rdb, "rl"), New(rdb, "rl")
	const rate, n = 50, 200
	iv := interval(rate)
	var mu sync.Mutex
	var slots []int64
	var wg sync.WaitGroup
	for i := range 40 {
		l := []*Limiter{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 40 {
				r, err := l.reserveOne(context.Background(), "p:submit", iv, -1)
				if err != nil || !r.reserved {
					t.Errorf("reserve: %+v, %v", r, err)
					return
				}
				mu.Lock()
				slots = append(slots, r.slot)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(slots)
	assertSpaced(t, slots, iv)
	perWindow := map[int64]int{}
	for _, s := range slots {
		perWindow[(s-t0.UnixMicro())/1e6]++
	}
	// Full windows hold the rate less the headroom (1 %), never more; the slots spill into one
	// more window by the headroom's worth.
	for w := range int64(n / rate) {
		if perWindow[w] > rate || perWindow[w] < rate-1 {
			t.Errorf("second %d holds %d slots, want %d or %d (all windows: %v)", w, perWindow[w], rate-1, rate, perWindow)
		}
	}
	if spill := perWindow[n/rate]; len(perWindow) > n/rate+1 || spill > int(math.Ceil(n*headroom)) {
		t.Errorf("slots spread over %d seconds, %d in the last, want %d full and at most %v after: %v", len(perWindow), spill, n/rate, math.Ceil(n*headroom), perWindow)
	}

	// A slot further than the caller can wait is not reserved: the next caller gets it.
	r, err := a.reserveOne(context.Background(), "p:submit", iv, time.Second)
	if err != nil || r.reserved || r.wait != n*iv {
		t.Fatalf("reserve with 1s to wait for a slot %v away: %+v, %v; want not reserved", n*iv, r, err)
	}
	if r2, _ := b.reserveOne(context.Background(), "p:submit", iv, -1); r2.slot != r.slot {
		t.Fatalf("after a refused reservation the next slot is %d, want the refused %d", r2.slot, r.slot)
	}

	// Idle time earns no burst: after a quiet minute the first call goes at once, the next one
	// interval later.
	mr.SetTime(t0.Add(time.Minute))
	r1, _ := a.reserveOne(context.Background(), "p:submit", iv, -1)
	r2, _ := b.reserveOne(context.Background(), "p:submit", iv, -1)
	if r1.wait != 0 || r2.wait != iv {
		t.Fatalf("after idling: waits %v and %v, want 0 and %v", r1.wait, r2.wait, iv)
	}

	// A provider's block moves the next slot to its end, for every limiter.
	if err := a.Block(context.Background(), "p:submit", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	r3, _ := b.reserveOne(context.Background(), "p:submit", iv, -1)
	if r3.wait != 3*time.Second {
		t.Fatalf("after a 3s block the next slot is %v away, want 3s", r3.wait)
	}
}

// Many goroutines in two limiters (two processes) sharing a key, through Wait: the slots they
// were granted are never closer than one interval, they keep up with the rate (the granted
// slots span no more than 5% beyond n-1 intervals), and each Wait cost at most one Redis
// command (EVALSHA; calls reserving at the same moment share one).
func TestWaitSharesTheRateAtOneCommandPerCall(t *testing.T) {
	for name, be := range backends(t) {
		t.Run(name, func(t *testing.T) {
			prefix := testPrefix(t)
			ra, ca := be.hooked()
			rb, cb := be.hooked()
			warm(t, ra)
			ca.n.Store(0)
			a, b := New(ra, prefix), New(rb, prefix)
			const rate, goroutines, each = 100, 60, 3
			iv := interval(rate)
			var wg sync.WaitGroup
			for i := range goroutines {
				l := []*Limiter{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range each {
						if err := l.Wait(context.Background(), "p:other", rate); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			const n = goroutines * each
			if got := ca.n.Load() + cb.n.Load(); got < 2 || got > n {
				t.Errorf("%d Waits sent %d Redis commands, want at most %d (one each) and at least 2 (one per limiter)", n, got, n)
			}
			slots := slices.Sorted(slices.Values(append(ca.granted(), cb.granted()...)))
			if len(slots) != n {
				t.Fatalf("%d slots granted for %d Waits", len(slots), n)
			}
			assertSpaced(t, slots, iv)
			span := time.Duration(slots[n-1]-slots[0]) * time.Microsecond
			if limit := time.Duration(float64((n-1)*iv) * 1.05); span > limit {
				t.Errorf("%d slots span %v, more than %v: the limiters left slots unused", n, span, limit)
			}
		})
	}
}

// Calls that reserve while a reservation is out go together in the next one: with the first
// reservation held back until every other call has queued, 50 Waits cost two Redis commands,
// and each still gets its own slot, one interval apart. (At 1,000/s the 49 queued calls' slots
// span 49 ms, within horizon: one batch.)
func TestConcurrentReservationsShareOneCall(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		commands int64
	}{{rate: 1000, commands: 2}} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			mr := miniredis.RunT(t)
			c := &commands{}
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { rdb.Close() })
			warm(t, rdb)
			rdb.AddHook(c)
			l := New(rdb, "rl")
			const waiters = 50
			ks := l.state("p:other")
			queued := func() int {
				ks.mu.Lock()
				b := ks.batch
				ks.mu.Unlock()
				if b == nil {
					return 0
				}
				return b.Queued()
			}
			g := &gate{first: make(chan struct{})}
			rdb.AddHook(g)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for range waiters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := l.Wait(ctx, "p:other", tc.rate); err != nil {
						t.Error(err)
					}
				}()
			}
			// The first reservation is held at the gate; every call not in it queues.
			for int(g.held.Load())+queued() < waiters && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			close(g.first)
			wg.Wait()
			if got := c.n.Load(); got != tc.commands {
				t.Errorf("%d Waits at %g/s sent %d Redis commands, want %d", waiters, tc.rate, got, tc.commands)
			}
			slots := c.granted()
			if len(slots) != waiters {
				t.Fatalf("%d slots granted for %d Waits", len(slots), waiters)
			}
			assertSpaced(t, slots, interval(tc.rate))
		})
	}
}

// gate holds reservations until first is closed; held counts the calls they reserve for.
type gate struct {
	first chan struct{}
	held  atomic.Int64
}

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isReserve(cmd) {
			select {
			case <-g.first:
			default:
				g.held.Add(int64(len(cmd.Args()) - 5)) // evalsha, sha, 1, key, interval, then a wait per call
				<-g.first
			}
		}
		return next(ctx, cmd)
	}
}

func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// Callers that give up while they wait (shutdown) spend little of the limit: however many wait,
// one process holds at most about two slots ahead (the seat; see horizon), so the next caller
// of any process is not pushed behind one slot per abandoned waiter.
func TestAbandonedWaitersSpendFewSlots(t *testing.T) {
	for name, rdb := range redisClients(t) {
		t.Run(name, func(t *testing.T) {
			prefix := testPrefix(t)
			l := New(rdb, prefix)
			const rate, waiters = 10, 100
			iv := interval(rate)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var granted atomic.Int64
			for range waiters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if l.Wait(ctx, "p:submit", rate) == nil {
						granted.Add(1)
					}
				}()
			}
			deadline := time.Now().Add(10 * time.Second)
			for granted.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			cancel()
			wg.Wait()
			left, err := leftScript.Run(context.Background(), rdb, []string{l.prefix + "p:submit"}).Int64()
			if err != nil {
				t.Fatal(err)
			}
			if max := 3 * iv; time.Duration(left)*time.Microsecond > max {
				t.Fatalf("%d waiters gave up (%d granted); the next slot is %v away, want at most %v",
					waiters, granted.Load(), time.Duration(left)*time.Microsecond, max)
			}
		})
	}
}

// An unlimited tier reads the provider's block from Redis at most every blockRefresh, not on
// every call, and honours a block another process set once its copy is re-read.
func TestUnlimitedTierReadsTheBlockRarely(t *testing.T) {
	for name, be := range backends(t) {
		t.Run(name, func(t *testing.T) {
			prefix := testPrefix(t)
			cl, c := be.hooked()
			rdb := be.client()
			warm(t, cl)
			c.n.Store(0)
			l := New(cl, prefix)
			start := time.Now()
			const calls = 2000
			for range calls {
				if err := l.Wait(context.Background(), "p:other", 0); err != nil {
					t.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			if max := 1 + int64(elapsed/blockRefresh); c.n.Load() > max {
				t.Errorf("%d unlimited calls in %v sent %d commands, want at most %d (one per %v)", calls, elapsed, c.n.Load(), max, blockRefresh)
			}
			other := New(rdb, prefix)
			if err := other.Block(context.Background(), "p:other", time.Hour); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*blockRefresh)
			defer cancel()
			for ctx.Err() == nil {
				if err := l.Wait(ctx, "p:other", 0); err != nil {
					return // it waits for the other process's block
				}
			}
			t.Fatalf("calls went on for %v after another process set an hour's block", 3*blockRefresh)
		})
	}
}

// The seat goes to urgent waiters first (a submit before a createCart), each kind in arrival
// order, and a waiter that gives up is passed over.
func TestSeatServesUrgentWaitersFirst(t *testing.T) {
	var s seat
	if waited, err := s.take(context.Background(), false); waited || err != nil {
		t.Fatalf("free seat: waited %v, err %v", waited, err)
	}
	queued := func(kind, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			got := len(s.waiting[kind])
			s.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters of kind %d, want %d", got, kind, n)
			}
		}
	}
	order := make(chan string, 4)
	take := func(ctx context.Context, name string, urgent bool) {
		go func() {
			if _, err := s.take(ctx, urgent); err != nil {
				order <- name + " gave up"
				return
			}
			order <- name
		}()
	}
	gone, cancel := context.WithCancel(context.Background())
	take(context.Background(), "create-1", false)
	queued(1, 1)
	take(gone, "create-gone", false)
	queued(1, 2)
	take(context.Background(), "create-2", false)
	queued(1, 3)
	take(context.Background(), "submit", true)
	queued(0, 1)
	cancel()
	if got := <-order; got != "create-gone gave up" {
		t.Fatalf("first event %q, want the cancelled waiter giving up", got)
	}
	var got []string
	for range 3 {
		s.release()
		got = append(got, <-order)
	}
	if want := []string{"submit", "create-1", "create-2"}; !slices.Equal(got, want) {
		t.Fatalf("seat handed in order %v, want %v", got, want)
	}
	s.release()
	if s.held {
		t.Fatal("seat still held with nobody waiting")
	}
}
