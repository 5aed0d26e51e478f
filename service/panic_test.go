package service_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/dlq"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/ryefake"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// syncBuffer is a log sink safe for every role's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// defectiveProvider panics in CreateCart for orders whose id starts with "poison-": a defect in
// a provider client reached by one hostile order.
type defectiveProvider struct{ provider.Provider }

func (p defectiveProvider) CreateCart(ctx context.Context, r provider.CartRequest) (provider.Cart, error) {
	if strings.HasPrefix(r.OrderRef, "poison-") {
		var byMerchant map[string][]provider.Item
		byMerchant[r.Items[0].Merchant] = r.Items // assignment to entry in nil map
	}
	return p.Provider.CreateCart(ctx, r)
}

// TestHandlerPanicDeadLetters runs the roles as orderflow run wires them (service.New), with
// one partition per topic, and sends a poison order between healthy ones: the worker's handler
// panics on it. The poison record is dead-lettered with the panic as its reason (the stack is
// in the logs, not in the dead letter), the orders after it in the same partition are placed,
// the worker group's committed offset moves past the poison record, and the service keeps
// running (Run returns no error). Before handlers were wrapped in consumer.Recover the panic
// killed the process, every role with it.
func TestHandlerPanicDeadLetters(t *testing.T) {
	cfg := embedded.Config{
		RegistryURL: testenv.RegistryURL(),
		RedisURL:    testenv.RedisURL(),
		Sandbox:     sandbox.Config{Rye: ryefake.Config{PlacementStep: 50 * time.Millisecond}},
	}
	if b := testenv.Brokers(); b != nil {
		cfg.Brokers = b
	}
	env, err := embedded.Start(cfg)
	if err != nil {
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(env.Close)
	providers, err := env.Providers(cfg.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	providers["rye"] = defectiveProvider{providers["rye"]}

	run := fmt.Sprintf("t%d", time.Now().UnixNano())
	topo := topology.Topology{Prefix: run + ".", Partitions: 1, Tiers: []topology.Tier{{Name: "fast", Delay: 100 * time.Millisecond}}}
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, err := service.New(ctx, service.Config{
		Brokers: env.Brokers, KafkaOpts: testenv.KafkaSecurity(t), RegistryURL: env.RegistryURL, RedisURL: env.RedisURL, Providers: providers, Topology: topo,
		RegistryOpts: testenv.RegistryOpts(t), RedisTLS: redisTLS(t, env.RedisURL),
		Processor: processor.Settings{PollInterval: 50 * time.Millisecond, NeverStartedAfter: 500 * time.Millisecond, StuckAfter: time.Second,
			RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond},
		Redis:      idempotencyConfig(run),
		RateLimits: map[string]ratelimit.Limits{"rye": {Submit: 1000, Other: 5000}},
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatalf("starting orderflow: %v", err)
	}
	s := &stack{env: env, svc: svc, tally: demo.NewTally(), topo: topo, providers: providers}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	followed := make(chan struct{})
	go func() { defer close(followed); s.follow(t, runCtx) }()
	t.Cleanup(func() {
		stop()
		<-followed
		if err := <-done; err != nil {
			t.Errorf("service run: %v", err)
		}
		svc.Close()
	})

	s.send(t, demo.Placed.Build("healthy-1", 1))
	poison := demo.Placed.Build("poison-1", 2)
	if err := svc.Producer().RequestOrder(context.Background(), poison); err != nil { // not expected to finish
		t.Fatal(err)
	}
	s.send(t, demo.Placed.Build("healthy-2", 3), demo.Placed.Build("healthy-3", 4))
	s.waitFinished(t, 3, 60*time.Second)
	for _, id := range []string{"healthy-1", "healthy-2", "healthy-3"} {
		if got := s.tally.Outcome(id); got != "placed" {
			t.Errorf("order %s: outcome %q, want placed; events %v", id, got, s.tally.Events(id))
		}
	}

	var dl dlq.Entry
	poll(t, 30*time.Second, func() string { return "the poison order's dead letter" }, func() bool {
		rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer rcancel()
		entries, _, err := dlq.Read(rctx, dlq.ReadConfig{Brokers: env.Brokers, Topic: topo.DLQ(), Codec: svc.Producer().Codec(), Opts: testenv.KafkaSecurity(t)})
		if err != nil {
			t.Fatalf("reading the dead-letter topic: %v", err)
		}
		for _, e := range entries {
			if e.OrderID == poison.OrderID {
				dl = e
				return true
			}
		}
		return false
	})
	if dl.SourceTopic != topo.Requests() || len(dl.RawValue) == 0 {
		t.Errorf("dead letter from %s with %d raw bytes: want the request record, kept whole", dl.SourceTopic, len(dl.RawValue))
	}
	if !strings.Contains(dl.Reason, "handler panicked: assignment to entry in nil map") {
		t.Errorf("dead letter reason %q: want the panic", dl.Reason)
	}
	if dl.Action != "investigate" || dl.Rule != processor.RuleHandlerPanic {
		t.Errorf("dead letter action %q rule %q: want investigate, %s (a bug, and the order may be under way)", dl.Action, dl.Rule, processor.RuleHandlerPanic)
	}
	if strings.Contains(dl.Reason, "goroutine") || strings.Contains(dl.Reason, ".go:") {
		t.Errorf("dead letter reason %q carries a stack; it belongs in the logs", dl.Reason)
	}
	if out := logs.String(); !strings.Contains(out, "handler panicked") || !strings.Contains(out, "defectiveProvider.CreateCart") {
		t.Errorf("logs do not hold the panic with its stack (defectiveProvider.CreateCart)")
	}

	adm, err := kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(env.Brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	var committed int64 = -1
	poll(t, 30*time.Second, func() string {
		return fmt.Sprintf("the worker group to commit past offset %d (committed %d)", dl.SourceOffset, committed)
	}, func() bool {
		octx, ocancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ocancel()
		resp, err := kadm.NewClient(adm).FetchOffsets(octx, topo.WorkerGroup())
		if err != nil {
			return false
		}
		if o, ok := resp.Lookup(topo.Requests(), dl.SourcePartition); ok && o.Err == nil {
			committed = o.At
		}
		return committed > dl.SourceOffset
	})
}
