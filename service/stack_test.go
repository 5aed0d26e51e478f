package service_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ryefake"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// stack is orderflow running against the embedded dependencies or, when the
// ORDERFLOW_TEST_BROKERS / _REGISTRY / _REDIS variables are set, against real services.
type stack struct {
	env    *embedded.Env
	svc    *service.Service
	follow *oracle.Follower // reads the status topic from the start
	tally  *demo.Tally      // follow's
	topo   topology.Topology
	store  *idempotency.Store // the service's idempotency store, for assertions
	// providers are clients of the sandbox (for tools and assertions that ask the provider).
	providers map[string]provider.Provider
}

// stackSetup is what a stackOption may change before startStack starts anything.
type stackSetup struct {
	// env are the dependencies: the ORDERFLOW_TEST_* services where set, else in-process ones.
	env embedded.Config
	// svc is orderflow on oracle.Test clocks with a unique topic prefix and Redis namespace
	// (Redis.Prefix "" derives it from the topic prefix, as a deployment does); its
	// dependencies and providers are filled in from env once it started.
	svc service.Config
	// wrap, when set, replaces the sandbox's provider clients (a counting decorator, a defect).
	wrap func(map[string]provider.Provider) map[string]provider.Provider
}

type stackOption func(*stackSetup)

func startStack(t *testing.T, opts ...stackOption) *stack {
	t.Helper()
	run := fmt.Sprintf("t%d", time.Now().UnixNano())
	set := stackSetup{
		env: embedded.Config{
			Brokers:     testenv.Brokers(),
			RegistryURL: testenv.RegistryURL(),
			RedisURL:    testenv.RedisURL(),
			Sandbox: sandbox.Config{Rye: ryefake.Config{PlacementStep: 50 * time.Millisecond},
				DigitalRiver: drfake.Config{PlacementStep: 20 * time.Millisecond}},
		},
		svc: service.Config{
			Topology:  topology.Topology{Prefix: run + ".", Partitions: 4, Tiers: slices.Clone(oracle.Test.Tiers)},
			Processor: oracle.Test.Processor(),
			Redis:     idempotencyConfig(run),
			// Limits, so the shared limiter keeps state in Redis.
			RateLimits: map[string]ratelimit.Limits{"rye": {Submit: 1000, Other: 5000}, "digitalriver": {Submit: 1000, Other: 5000}},
		},
	}
	for _, o := range opts {
		o(&set)
	}
	env, err := embedded.Start(set.env)
	if err != nil {
		t.Fatalf("starting the stack (real services are used when ORDERFLOW_TEST_* is set: brokers=%v registry=%q redis=%q): %v",
			set.env.Brokers, set.env.RegistryURL, redacted(set.env.RedisURL), err)
	}
	t.Cleanup(env.Close)
	providers, err := env.Providers(set.env.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	cfg := set.svc
	cfg.Brokers, cfg.KafkaOpts, cfg.RegistryURL, cfg.RegistryOpts = env.Brokers, testenv.KafkaSecurity(t), env.RegistryURL, testenv.RegistryOpts(t)
	cfg.RedisURL, cfg.RedisTLS = env.RedisURL, redisTLS(t, env.RedisURL)
	cfg.Providers = providers
	if set.wrap != nil {
		cfg.Providers = set.wrap(providers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, err := service.New(ctx, cfg)
	if err != nil {
		t.Fatalf("starting orderflow %s on brokers=%v registry=%s redis=%s: %v", cfg.Topology.Prefix, env.Brokers, env.RegistryURL, redacted(env.RedisURL), err)
	}
	opt, err := service.RedisOptions(env.RedisURL, "", "", redisTLS(t, env.RedisURL))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ns := cfg.Redis
	if ns.Prefix == "" {
		ns.Prefix = service.RedisPrefix(cfg.Topology.Prefix)
	}
	store, err := idempotency.New(rdb, ns)
	if err != nil {
		t.Fatal(err)
	}
	f := oracle.NewFollower(svc.Producer().Codec())
	s := &stack{env: env, svc: svc, follow: f, tally: f.Tally, topo: cfg.Topology, store: store, providers: providers}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	followed := make(chan error, 1)
	go func() { followed <- f.Run(runCtx, env.Brokers, testenv.KafkaSecurity(t), cfg.Topology.Status()) }()
	t.Cleanup(func() {
		stop()
		if err := <-followed; err != nil {
			t.Errorf("following the status topic: %v", err)
		}
		if _, n, first := f.Read(); n > 0 {
			t.Errorf("%d status events did not decode, the first: %v", n, first)
		}
		if err := <-done; err != nil {
			t.Errorf("service %s run: %v", cfg.Topology.Prefix, err)
		}
		svc.Close()
	})
	return s
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

// audit checks the run's invariants over orders (demo/oracle, as make chaos does, but strict:
// the stack injects no faults): each ended as its scenario says, one terminal event per
// merchant order, no order attempt submitted twice in the sandbox ledger, every dead letter
// complete and behind every dead_lettered status. The status event or dead letter produced
// with an order's last terminal may still be on its way, so it polls until the checks pass or
// 10 s went by, then reports what still fails.
func (s *stack) audit(t *testing.T, orders []demo.Order) {
	t.Helper()
	wants := map[string]demo.Scenario{}
	for _, o := range orders {
		wants[o.Request.OrderID] = o.Scenario
	}
	var findings []oracle.Finding
	for deadline := time.Now().Add(10 * time.Second); ; {
		entries := s.env.Sandbox.Ledger().Entries()
		terms := s.follow.Terminals()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		recs, err := oracle.ReadTopic(ctx, s.env.Brokers, testenv.KafkaSecurity(t), s.topo.DLQ())
		cancel()
		if err != nil {
			t.Fatalf("reading the dead letters: %v", err)
		}
		var dls []schemas.DeadLetter
		for _, r := range recs {
			dl, err := s.svc.Producer().Codec().DecodeDeadLetter(context.Background(), r.Value)
			if err != nil {
				t.Fatalf("a dead letter does not decode: %v", err)
			}
			if _, ours := wants[dl.OrderID]; ours {
				dls = append(dls, dl)
			}
		}
		ours := map[oracle.MerchantOrder][]oracle.Terminal{}
		for k, v := range terms {
			if _, ok := wants[k.OrderID]; ok {
				ours[k] = v
			}
		}
		findings = slices.Concat(oracle.Outcomes(wants, s.tally, entries, true), oracle.OneTerminal(ours),
			oracle.NoDoubleSubmit(entries), oracle.DeadLetters(dls, ours))
		if len(findings) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	for _, f := range findings {
		t.Errorf("%s", f)
	}
}
