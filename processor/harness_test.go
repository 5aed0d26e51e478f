package processor

// A deterministic harness for the three roles: a fake provider whose placement is a function
// of time, a fake clock that jumps to each record's due time, miniredis, and an in-memory bus.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// fakeProvider answers Status with placement(elapsed since the first submit).
type fakeProvider struct {
	mu        sync.Mutex
	now       func() time.Time
	submitAt  time.Time
	placement func(elapsed time.Duration) (provider.Placement, error)
	orders    []provider.MerchantOrder
	carts     []provider.CartRequest
	submits   []provider.SubmitRequest
}

func (p *fakeProvider) Name() string { return "rye" }

func (p *fakeProvider) CreateCart(_ context.Context, r provider.CartRequest) (provider.Cart, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.carts = append(p.carts, r)
	return provider.Cart{ID: fmt.Sprintf("cart-%d", len(p.carts))}, nil
}

func (p *fakeProvider) Submit(_ context.Context, r provider.SubmitRequest) (provider.Submission, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.submits) == 0 {
		p.submitAt = p.now()
	}
	p.submits = append(p.submits, r)
	return provider.Submission{CartID: r.CartID, Orders: p.orders}, nil
}

func (p *fakeProvider) Status(_ context.Context, cartID string) (provider.Placement, error) {
	p.mu.Lock()
	elapsed := p.now().Sub(p.submitAt)
	p.mu.Unlock()
	pl, err := p.placement(elapsed)
	pl.CartID = cartID
	return pl, err
}

type harness struct {
	t     *testing.T
	cfg   *Config
	prov  *fakeProvider
	clock time.Time

	queue    []producer.Message
	statuses []schemas.OrderStatus
	failures []schemas.OrderFailure
	dead     []schemas.DeadLetter
	tracking []schemas.Tracking

	worker, tracker, reconciler consumer.Handler
	// trips counts the store's Redis round trips by first command (a pipeline is one).
	trips *tripCounter
}

// tripCounter is a go-redis hook counting round trips by their first command's name.
type tripCounter struct {
	mu sync.Mutex
	by map[string]int
}

func (c *tripCounter) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.by[name]++
}

// total is the number of round trips counted, and resets the counter.
func (c *tripCounter) take() (int, map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.by {
		n += v
	}
	by := c.by
	c.by = map[string]int{}
	return n, by
}

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 {
			c.add("pipeline:" + cmds[0].Name())
		}
		return next(ctx, cmds)
	}
}

// Send is the bus: status and dead letters are collected, the rest queued for the roles.
func (h *harness) Send(_ context.Context, msgs ...producer.Message) error {
	for _, m := range msgs {
		switch v := m.Value.(type) {
		case schemas.OrderStatus:
			h.statuses = append(h.statuses, v)
			continue
		case schemas.DeadLetter:
			h.dead = append(h.dead, v)
			continue
		case schemas.OrderFailure:
			h.failures = append(h.failures, v)
		case schemas.Tracking:
			h.tracking = append(h.tracking, v)
		}
		h.queue = append(h.queue, m)
	}
	return nil
}

func newHarness(t *testing.T, placement func(time.Duration) (provider.Placement, error), tune func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	h.prov = &fakeProvider{now: func() time.Time { return h.clock }, placement: placement,
		orders: []provider.MerchantOrder{{Merchant: "amazon", OrderID: "ord-1"}}}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	h.trips = &tripCounter{by: map[string]int{}}
	rdb.AddHook(h.trips)
	store, err := idempotency.New(rdb, idempotency.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	topo := topology.Topology{Tiers: []topology.Tier{{Name: "fast", Delay: time.Second}}}.WithDefaults()
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	codec := schemas.NewCodec(cl)
	for topic, n := range topo.Schemas() {
		if _, err := codec.Register(context.Background(), topic, n); err != nil {
			t.Fatal(err)
		}
	}
	h.cfg = &Config{
		Store: store, Providers: map[string]provider.Provider{"rye": h.prov}, Events: h, Codec: codec, Topology: topo,
		Settings: Settings{Owner: "test", RetryBase: time.Millisecond, RetryMax: time.Millisecond,
			PollInterval: time.Second, NeverStartedAfter: 5 * time.Second, StuckAfter: 10 * time.Second, ActionTimeout: time.Minute},
		Now: func() time.Time { return h.clock },
	}
	if tune != nil {
		tune(h.cfg)
	}
	roles, err := NewRoles(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.worker, h.tracker, h.reconciler = roles.Worker, roles.Tracker, roles.Reconciler
	return h
}

// run sends req and drives every record until none is left (or the fake clock passes limit),
// in due order: records without a due time first, in order, then the earliest due.
func (h *harness) run(req schemas.OrderRequested, limit time.Duration) {
	h.t.Helper()
	h.loop(req, limit, false)
}

// loop is run, and with redeliver a record whose handler fails is handled again, first,
// instead of failing the test; it returns how many records were redelivered.
func (h *harness) loop(req schemas.OrderRequested, limit time.Duration, redeliver bool) (redelivered int) {
	h.t.Helper()
	if err := h.Send(context.Background(), producer.Message{Topic: h.cfg.Topology.Requests(), Key: req.OrderID, Value: req}); err != nil {
		h.t.Fatal(err)
	}
	end := h.clock.Add(limit)
	for steps := 0; len(h.queue) > 0; steps++ {
		if steps > 10000 {
			h.t.Fatal("the order does not end")
		}
		i := 0
		for j, m := range h.queue {
			if m.Due.IsZero() {
				i = j
				break
			}
			if m.Due.Before(h.queue[i].Due) {
				i = j
			}
		}
		m := h.queue[i]
		h.queue = append(h.queue[:i], h.queue[i+1:]...)
		if m.Due.After(h.clock) {
			h.clock = m.Due
		}
		if h.clock.After(end) {
			return redelivered
		}
		b, err := h.cfg.Codec.Encode(m.Topic, m.Value)
		if err != nil {
			h.t.Fatal(err)
		}
		r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: b}
		handler := h.worker
		switch m.Topic {
		case h.cfg.Topology.Tracking():
			handler = h.tracker
		case h.cfg.Topology.Failures():
			handler = h.reconciler
		}
		if err := handler.Handle(context.Background(), r); err != nil {
			if !redeliver {
				h.t.Fatalf("%s at %v: %v", m.Topic, h.clock, err)
			}
			redelivered++
			m.Due = time.Time{} // retried at once
			h.queue = append([]producer.Message{m}, h.queue...)
		}
	}
	return redelivered
}

// states are the status events as "attempt/merchant/state", without placement_started.
func (h *harness) states() []string {
	var out []string
	for _, s := range h.statuses {
		if s.State != string(StatusPlacementStarted) {
			out = append(out, fmt.Sprintf("%d/%s/%s", s.Attempt, s.Merchant, s.State))
		}
	}
	return out
}

func (h *harness) byState(state Status) []schemas.OrderStatus {
	var out []schemas.OrderStatus
	for _, s := range h.statuses {
		if s.State == string(state) {
			out = append(out, s)
		}
	}
	return out
}

func testRequest(id string, items ...schemas.Item) schemas.OrderRequested {
	if len(items) == 0 {
		items = []schemas.Item{{Merchant: "amazon", ProductID: "B0TEST0001", Quantity: 1, PriceCents: 1999}}
	}
	return schemas.OrderRequested{OrderID: id, Attempt: 1, Provider: "rye", Items: items, Currency: "USD", PaymentRef: "tok_visa",
		ShopperIP: "203.0.113.10", RequestedAt: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC),
		Buyer: schemas.Buyer{FirstName: "Ada", LastName: "Lovelace", Address1: "1 Market St", City: "San Francisco",
			ProvinceCode: "CA", PostalCode: "94105", CountryCode: "US"}}
}

// Placement building blocks.

func started() []provider.Event {
	return []provider.Event{{Type: provider.EventSubmissionStarted, ID: "e1"}}
}

func placedEvents() []provider.Event {
	return append(started(), provider.Event{Type: provider.EventSubmissionSucceeded, ID: "e2"}, provider.Event{Type: provider.EventPlaced, ID: "e3"})
}

// failedEvents is an OrderFailed as the Rye adapter reports it: a not-retryable failure
// carries the adapter's action for its reason code.
func failedEvents(code string, retryable bool) []provider.Event {
	ev := provider.Event{Type: provider.EventFailed, ID: "e2", ReasonCode: code, Reason: "failed: " + code, Retryable: provider.Bool(retryable)}
	if !retryable {
		ev.Action = rye.PlacementAction(code)
	}
	return append(started(), ev)
}

// challenge is an order waiting for a 3-D Secure challenge, as the Rye adapter reports it.
func challenge(merchant, orderID, url string) provider.OrderPlacement {
	return provider.OrderPlacement{Merchant: merchant, OrderID: orderID, Status: "ACTION_REQUIRED", Events: started(),
		RequiredActions: []provider.RequiredAction{{Kind: "CompletePaymentChallenge", RedirectURL: url, Action: provider.ActionCompletePaymentChallenge}}}
}

func one(o provider.OrderPlacement) provider.Placement {
	return provider.Placement{Orders: []provider.OrderPlacement{o}}
}
