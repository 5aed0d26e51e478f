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
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider"
	"maps"
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
	logs := &syncBuffer{}
	s := startStack(t, func(set *stackSetup) {
		set.svc.Topology.Partitions = 1
		set.svc.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		set.wrap = func(ps map[string]provider.Provider) map[string]provider.Provider {
			wrapped := maps.Clone(ps)
			wrapped["rye"] = defectiveProvider{ps["rye"]}
			return wrapped
		}
	})
	env, svc, topo := s.env, s.svc, s.topo

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
