package processor_test

// Step-crash tests: a process is killed right after each side effect of an order's life
// (every Redis command, provider call and produce), and a fresh process picks the unfinished
// record up again, as Kafka redelivers an uncommitted record after kill -9. Whatever the crash
// point, the order must complete with exactly one submitted cart per attempt in the ledger.

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	drclient "github.com/orderflow/orderflow/provider/digitalriver"
	ryeclient "github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ryefake"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

var errCrash = errors.New("kill -9")

// crasher counts side effects and kills the process after the at-th one.
type crasher struct {
	mu    sync.Mutex
	n, at int
	dead  bool
}

// after is called once an effect happened; it reports whether the process just died.
func (c *crasher) after() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return true
	}
	c.n++
	c.dead = c.at > 0 && c.n == c.at
	return c.dead
}

func (c *crasher) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead
}

// redisHook crashes after a Redis command was executed.
type redisHook struct{ c *crasher }

func (h redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.c.isDead() {
			return errCrash
		}
		err := next(ctx, cmd)
		if h.c.after() {
			cmd.SetErr(errCrash)
			return errCrash
		}
		return err
	}
}
func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.c.isDead() {
			return errCrash
		}
		err := next(ctx, cmds)
		if h.c.after() {
			return errCrash
		}
		return err
	}
}

// crashingProvider crashes after a provider call returned (the call took effect).
type crashingProvider struct {
	provider.Provider
	c *crasher
}

func (p crashingProvider) CreateCart(ctx context.Context, r provider.CartRequest) (provider.Cart, error) {
	if p.c.isDead() {
		return provider.Cart{}, errCrash
	}
	cart, err := p.Provider.CreateCart(ctx, r)
	if p.c.after() {
		return provider.Cart{}, errCrash
	}
	return cart, err
}

func (p crashingProvider) Submit(ctx context.Context, r provider.SubmitRequest) (provider.Submission, error) {
	if p.c.isDead() {
		return provider.Submission{}, errCrash
	}
	s, err := p.Provider.Submit(ctx, r)
	if p.c.after() {
		return provider.Submission{}, errCrash
	}
	return s, err
}

func (p crashingProvider) Status(ctx context.Context, id string) (provider.Placement, error) {
	if p.c.isDead() {
		return provider.Placement{}, errCrash
	}
	pl, err := p.Provider.Status(ctx, id)
	if p.c.after() {
		return provider.Placement{}, errCrash
	}
	return pl, err
}

// bus is the Kafka stand-in: produced records queue up for the roles; status events go to
// the tally. A produce is the effect: the crash comes after the records were appended.
type bus struct {
	mu      sync.Mutex
	codec   *schemas.Codec
	topo    topology.Topology
	pending []*kgo.Record
	due     map[*kgo.Record]time.Time
	tally   *demo.Tally
}

type busSender struct {
	b *bus
	c *crasher
}

func (s busSender) Send(ctx context.Context, msgs ...producer.Message) error {
	if s.c.isDead() {
		return errCrash
	}
	s.b.mu.Lock()
	for _, m := range msgs {
		v, err := s.b.codec.Encode(m.Topic, m.Value)
		if err != nil {
			s.b.mu.Unlock()
			return err
		}
		r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: v}
		if m.Topic == s.b.topo.DLQ() {
			continue // dead letters are checked through the status events they come with
		}
		if m.Topic == s.b.topo.Status() {
			st, err := s.b.codec.DecodeOrderStatus(ctx, v)
			if err != nil {
				s.b.mu.Unlock()
				return err
			}
			s.b.tally.Observe(st)
			continue
		}
		s.b.pending = append(s.b.pending, r)
		s.b.due[r] = m.Due
	}
	s.b.mu.Unlock()
	if s.c.after() {
		return errCrash
	}
	return nil
}

func (b *bus) pop() (*kgo.Record, time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		return nil, time.Time{}, false
	}
	r := b.pending[0]
	b.pending = b.pending[1:]
	return r, b.due[r], true
}

func (b *bus) pushFront(r *kgo.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append([]*kgo.Record{r}, b.pending...)
}

type world struct {
	mr        *miniredis.Miniredis
	sandbox   *sandbox.Sandbox
	providers map[string]provider.Provider
	bus       *bus
	topo      topology.Topology
}

func newWorld(t *testing.T) *world {
	t.Helper()
	// Rye's real rate limits (the sandbox's default, 1 createCart/submitCart per second) would
	// make each crash point wait out 429s: off here, as in the embedded stack.
	sb, err := sandbox.New(sandbox.Config{Rye: ryefake.Config{PlacementStep: 2 * time.Millisecond, StrictRPS: ryefake.Unlimited, DefaultRPS: ryefake.Unlimited},
		DigitalRiver: drfake.Config{PlacementStep: 2 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	r, err := ryeclient.New(ryeclient.Config{BaseURL: srv.URL + sandbox.RyePrefix, APIKey: ryefake.DefaultAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	dr, err := drclient.New(drclient.Config{BaseURL: srv.URL + sandbox.DigitalRiverPrefix, APIKey: sandbox.DigitalRiverAPIKey})
	if err != nil {
		t.Fatal(err)
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	topo := topology.Topology{Tiers: []topology.Tier{{Name: "fast", Delay: time.Millisecond}}}.WithDefaults()
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	codec := schemas.NewCodec(cl)
	for topic, n := range topo.Schemas() {
		if _, err := codec.Register(context.Background(), topic, n); err != nil {
			t.Fatal(err)
		}
	}
	return &world{
		mr: miniredis.RunT(t), sandbox: sb, topo: topo,
		providers: map[string]provider.Provider{r.Name(): r, dr.Name(): dr},
		bus:       &bus{codec: codec, topo: topo, due: map[*kgo.Record]time.Time{}, tally: demo.NewTally()},
	}
}

// process is one orderflow process with all three roles; crashAt 0 never crashes.
type process struct {
	c          *crasher
	worker     consumer.Handler
	tracker    consumer.Handler
	reconciler consumer.Handler
}

func (w *world) start(t *testing.T, name string, crashAt int) *process {
	c := &crasher{at: crashAt}
	rdb := redis.NewClient(&redis.Options{Addr: w.mr.Addr(), MaxRetries: -1})
	rdb.AddHook(redisHook{c})
	t.Cleanup(func() { rdb.Close() })
	store, err := idempotency.New(rdb, idempotency.Config{Lease: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	provs := map[string]provider.Provider{}
	for n, p := range w.providers {
		provs[n] = crashingProvider{p, c}
	}
	cfg := &processor.Config{
		Store: store, Providers: provs, Events: busSender{w.bus, c}, Codec: w.bus.codec, Topology: w.topo,
		Settings: processor.Settings{Owner: name, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, PollInterval: 5 * time.Millisecond,
			NeverStartedAfter: 100 * time.Millisecond, StuckAfter: 200 * time.Millisecond, ActionTimeout: 50 * time.Millisecond},
	}
	roles, err := processor.NewRoles(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &process{c: c, worker: roles.Worker, tracker: roles.Tracker, reconciler: roles.Reconciler}
}

func (p *process) handler(topo topology.Topology, topic string) consumer.Handler {
	switch topic {
	case topo.Tracking():
		return p.tracker
	case topo.Failures():
		return p.reconciler
	}
	return p.worker
}

// run drives one order to its end, crashing the first process after its crashAt-th effect.
// It returns whether the crash point was reached.
func (w *world) run(t *testing.T, o schemas.OrderRequested, crashAt int) bool {
	t.Helper()
	w.bus.tally.Expect(o)
	v, err := w.bus.codec.Encode(w.topo.Requests(), o)
	if err != nil {
		t.Fatal(err)
	}
	w.bus.pending = append(w.bus.pending, &kgo.Record{Topic: w.topo.Requests(), Key: []byte(o.OrderID), Value: v})
	p := w.start(t, "first", crashAt)
	crashed := false
	deadline := time.Now().Add(20 * time.Second)
	ctx := context.Background()
	for time.Now().Before(deadline) {
		r, due, ok := w.bus.pop()
		if !ok {
			return crashed
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // the record's schedule, as the engine's delay holding would honour it
		}
		err := p.handler(w.topo, r.Topic).Handle(ctx, r)
		switch {
		case p.c.isDead():
			crashed = true
			p = w.start(t, fmt.Sprintf("restarted-%d", crashAt), 0)
			w.bus.pushFront(r) // not committed: redelivered to the new process
		case consumer.IsPermanent(err):
			t.Fatalf("crash at %d: %s record dead-lettered: %v", crashAt, r.Topic, err)
		case err != nil:
			// The dead process's lease is still live (ErrBusy): redelivered after a moment.
			time.Sleep(10 * time.Millisecond)
			w.bus.pushFront(r)
		}
	}
	t.Fatalf("crash at %d: order %s did not finish; events %v", crashAt, o.OrderID, w.bus.tally.Events(o.OrderID))
	return false
}

func TestStepCrash(t *testing.T) {
	for _, sc := range []demo.Scenario{demo.Placed, demo.TimeoutPlaced, demo.TimeoutLost, demo.OutOfStockOnce, demo.PaymentDeclined, demo.DRPlaced, demo.DRTimeoutCreated,
		demo.ThreeDSPassed, demo.ThreeDSAbandoned} {
		t.Run(sc.Name, func(t *testing.T) {
			w := newWorld(t)
			points := 0
			for at := 1; ; at++ {
				o := sc.Build(fmt.Sprintf("%s-crash-%d", sc.Name, at), at)
				if !w.run(t, o, at) {
					break // no crash point left: every step was covered
				}
				points++
				if got := w.bus.tally.Outcome(o.OrderID); got != sc.Want {
					t.Errorf("crash after effect %d: outcome %q, want %q; events %v", at, got, sc.Want, w.bus.tally.Events(o.OrderID))
				}
				for ref, entries := range w.sandbox.Ledger().ByOrderRef() {
					if len(entries) > 1 {
						t.Errorf("crash after effect %d: %s submitted %d times", at, ref, len(entries))
					}
				}
			}
			if points < 8 {
				t.Fatalf("only %d crash points: the harness is not injecting crashes", points)
			}
			t.Logf("%s: order completed correctly after a crash at each of %d effects", sc.Name, points)
		})
	}
}

// statusDown answers every placement poll with a retryable error.
type statusDown struct{ provider.Provider }

func (statusDown) Status(context.Context, string) (provider.Placement, error) {
	return provider.Placement{}, &provider.Error{Class: provider.ClassRetryable, Op: "checkoutByCartID", Code: "UPSTREAM", HTTPStatus: 502}
}

// A cart whose placement can not be read escalates to a person after twice the stuck
// threshold; it is never resubmitted (it may be placed) and never polled forever.
func TestUnreadablePlacementNeedsAttention(t *testing.T) {
	w := newWorld(t)
	w.providers["rye"] = statusDown{w.providers["rye"]}
	o := demo.Placed.Build("unreadable-1", 1)
	w.run(t, o, 0)
	if got := w.bus.tally.Outcome(o.OrderID); got != "needs_attention:contact-provider" {
		t.Fatalf("outcome %q, want needs_attention:contact-provider; events %v", got, w.bus.tally.Events(o.OrderID))
	}
	if n := len(w.sandbox.Ledger().ByOrderRef()["unreadable-1/1"]); n != 1 {
		t.Fatalf("%d carts submitted, want exactly 1 (never resubmitted)", n)
	}
}
