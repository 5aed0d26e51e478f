package service_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/rye"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// stack is orderflow running against the embedded dependencies or, when the
// ORDERFLOW_TEST_BROKERS / _REGISTRY / _REDIS variables are set, against real services.
type stack struct {
	env   *embedded.Env
	svc   *service.Service
	tally *demo.Tally
	topo  topology.Topology
}

func startStack(t *testing.T) *stack {
	t.Helper()
	cfg := embedded.Config{
		RegistryURL: os.Getenv("ORDERFLOW_TEST_REGISTRY"),
		RedisURL:    os.Getenv("ORDERFLOW_TEST_REDIS"),
		Sandbox:     sandbox.Config{Rye: rye.Config{PlacementStep: 20 * time.Millisecond}},
	}
	if b := os.Getenv("ORDERFLOW_TEST_BROKERS"); b != "" {
		cfg.Brokers = strings.Split(b, ",")
	}
	env, err := embedded.Start(cfg)
	if err != nil {
		t.Fatalf("starting the stack (real services are used when ORDERFLOW_TEST_* is set: brokers=%v registry=%q redis=%q): %v",
			cfg.Brokers, cfg.RegistryURL, cfg.RedisURL, err)
	}
	t.Cleanup(env.Close)
	providers, err := env.Providers(cfg.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprintf("t%d", time.Now().UnixNano())
	topo := topology.Topology{Prefix: run + ".", Partitions: 4, Tiers: []topology.Tier{
		{Name: "fast", Delay: 100 * time.Millisecond}, {Name: "slow", Delay: 300 * time.Millisecond}}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, err := service.New(ctx, service.Config{
		Brokers: env.Brokers, RegistryURL: env.RegistryURL, RedisURL: env.RedisURL,
		Providers: providers, Topology: topo,
		Processor: processor.Config{
			PollInterval: 50 * time.Millisecond, NeverStartedAfter: 500 * time.Millisecond, StuckAfter: time.Second,
			RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		},
		Redis:      idempotencyConfig(run),
		RateLimits: map[string]ratelimit.Limits{"rye": {Submit: 1000, Other: 5000}, "digitalriver": {Submit: 1000, Other: 5000}},
	})
	if err != nil {
		t.Fatalf("starting orderflow on brokers=%v registry=%s redis=%s: %v", env.Brokers, env.RegistryURL, env.RedisURL, err)
	}
	s := &stack{env: env, svc: svc, tally: demo.NewTally(), topo: topo}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	go s.follow(t, runCtx)
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("service run: %v", err)
		}
		svc.Close()
	})
	return s
}

// follow feeds every status event into the tally.
func (s *stack) follow(t *testing.T, ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.env.Brokers...), kgo.ConsumeTopics(s.topo.Status()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	codec := s.svc.Producer().Codec()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			st, err := codec.DecodeOrderStatus(ctx, r.Value)
			if err != nil {
				t.Errorf("decoding a status event: %v", err)
				return
			}
			s.tally.Observe(st)
		})
	}
}

// send publishes orders and registers them with the tally.
func (s *stack) send(t *testing.T, orders ...schemas.OrderRequested) {
	t.Helper()
	for _, o := range orders {
		s.tally.Expect(o)
		if err := s.svc.Producer().RequestOrder(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFinished waits until n orders finished, failing after d.
func (s *stack) waitFinished(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for s.tally.Finished() < n {
		select {
		case <-s.tally.Changed():
		case <-deadline:
			t.Fatalf("only %d of %d orders finished within %v: %s", s.tally.Finished(), n, d, s.tally.Summary())
		}
	}
}

func TestSkeletonScenariosEndToEnd(t *testing.T) {
	s := startStack(t)
	gen := demo.Generator{Prefix: "sk-", Scenarios: demo.Skeleton}
	var orders []demo.Order
	for range 50 {
		o := gen.Next()
		orders = append(orders, o)
		s.send(t, o.Request)
	}
	s.waitFinished(t, len(orders), 60*time.Second)

	ledger := s.env.Sandbox.Ledger()
	byRef := ledger.ByOrderRef()
	for _, o := range orders {
		id := o.Request.OrderID
		if got := s.tally.Outcome(id); got != o.Scenario.Want {
			t.Errorf("order %s (%s): outcome %q, want %q; events %v", id, o.Scenario.Name, got, o.Scenario.Want, s.tally.Events(id))
		}
		first, second := byRef[id+"/1"], byRef[id+"/2"]
		switch o.Scenario.Name {
		case demo.Placed.Name:
			if len(first) != 1 || !first[0].Charged || first[0].Refunded || len(second) != 0 {
				t.Errorf("order %s: ledger %+v %+v, want one charged cart", id, first, second)
			}
		case demo.PaymentDeclined.Name:
			if len(first)+len(second) != 0 {
				t.Errorf("order %s: declined payment must charge nothing, ledger %+v", id, first)
			}
		case demo.OutOfStockOnce.Name:
			if len(first) != 1 || !first[0].Refunded || len(second) != 1 || second[0].Refunded {
				t.Errorf("order %s: want attempt 1 refunded and replacement attempt 2 charged, ledger %+v / %+v", id, first, second)
			}
		}
	}
	if d := ledger.DoubleSubmits(); len(d) > 0 {
		t.Errorf("order attempts submitted twice: %v", d)
	}
}

func TestDuplicateRequestSubmitsOnce(t *testing.T) {
	s := startStack(t)
	o := demo.Placed.Build("dup-1", 1)
	s.send(t, o, o)
	s.waitFinished(t, 1, 30*time.Second)
	// Send it a third time after it finished: the stored outcome is re-emitted, nothing more.
	s.send(t, o)
	other := demo.Placed.Build("dup-2", 2)
	s.send(t, other)
	s.waitFinished(t, 2, 30*time.Second)

	if got := s.tally.Outcome("dup-1"); got != "placed" {
		t.Fatalf("outcome %q, want placed; events %v", got, s.tally.Events("dup-1"))
	}
	if entries := s.env.Sandbox.Ledger().ByOrderRef()["dup-1/1"]; len(entries) != 1 {
		t.Fatalf("ledger has %d submitted carts for dup-1, want exactly 1: %+v", len(entries), entries)
	}
}
