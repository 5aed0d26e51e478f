package toy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/provider/providertest"
	"github.com/orderflow/orderflow/provider/providertest/toy"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// registry is providers.All() with the toy added: the "one line" of adding a provider. In the
// product the line goes into providers.All's list; a test appends it here instead, so that the
// toy never ships, and hands the list to the sandbox and the service (Config.Providers and
// Config.Descriptors): nothing else is changed.
func registry() []provider.Descriptor {
	return append(providers.All(), toy.Descriptor)
}

// The toy satisfies the provider contract, as Rye and Digital River do.
func TestConformance(t *testing.T) {
	const key = "toy-conformance-key"
	providertest.Run(t, providertest.Harness{
		APIKey: key,
		New: func(t *testing.T, env providertest.Env) (provider.Provider, *ledger.Ledger) {
			cfg := toy.FakeConfig{APIKey: key, PlacementStep: 5 * time.Millisecond}
			if env.RateLimited {
				cfg.RPS = 1
			}
			sb, err := sandbox.New(sandbox.Config{Providers: registry(), Options: map[string]any{toy.Name: cfg}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sb)
			t.Cleanup(func() { srv.Close(); _ = sb.Close() })
			p, err := toy.Descriptor.New(provider.Settings{BaseURL: srv.URL + toy.Descriptor.SandboxPrefix, APIKey: key,
				HTTPClient: &http.Client{Transport: env.Wrap(http.DefaultTransport)}})
			if err != nil {
				t.Fatal(err)
			}
			return p, sb.Ledger()
		},
		Order: func(s providertest.Scenario, n int) (providertest.Order, bool) {
			trigger, action := "", provider.ActionNone
			switch s {
			case providertest.RefusedRetryable:
				trigger = "retry:"
			case providertest.RefusedNotRetryable:
				trigger, action = "declined:", provider.ActionNewPaymentMethod
			case providertest.RefusedUnknown:
				trigger = "mystery:"
			case providertest.TimeoutAfterSubmit:
				trigger = "timeout:"
			case providertest.PlacementFailed:
				trigger = "fails:"
			}
			cart := provider.CartRequest{OrderRef: fmt.Sprintf("toy-%d/1", n), Currency: "USD", PaymentRef: "tok_toy_secret",
				Items: []provider.Item{{Merchant: "toyshop", ProductID: fmt.Sprintf("%sTOY-%d", trigger, n), Quantity: 1, PriceCents: 500}}}
			return providertest.Order{Cart: cart, Submit: provider.SubmitRequest{PaymentRef: "tok_toy_secret"}, WantAction: action}, true
		},
	})
}

// End to end through the embedded stack and the service, as `orderflow run` wires them: one
// order placed, one whose placement fails dead-lettered with the toy's action for its reason
// code, each charged once in the sandbox ledger, and the toy rate-limited by its descriptor's
// DefaultLimits (no RateLimits entry is given).
func TestEndToEnd(t *testing.T) {
	sbCfg := sandbox.Config{Providers: registry()}
	env, err := embedded.Start(embedded.Config{Sandbox: sbCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	ps, err := env.Providers(sbCfg)
	if err != nil {
		t.Fatal(err)
	}
	if ps[toy.Name] == nil {
		t.Fatalf("the embedded stack built no toy client: %v", ps)
	}
	topo := topology.Topology{Prefix: "toy.", Partitions: 2, Tiers: []topology.Tier{{Name: "fast", Delay: 100 * time.Millisecond}}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svc, err := service.New(ctx, service.Config{
		Brokers: env.Brokers, RegistryURL: env.RegistryURL, RedisURL: env.RedisURL, Topology: topo,
		Providers: ps, Descriptors: registry(), Redis: idempotency.Config{Prefix: "toy"},
		Processor: processor.Settings{PollInterval: 20 * time.Millisecond, NeverStartedAfter: 2 * time.Second, StuckAfter: 4 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("service run: %v", err)
		}
		svc.Close()
	})

	tally := demo.NewTally()
	order := func(id, product string) schemas.OrderRequested {
		return schemas.OrderRequested{OrderID: id, Attempt: 1, Provider: toy.Name, Currency: "USD", PaymentRef: "tok_toy",
			RequestedAt: time.Now().UTC(), Items: []schemas.Item{{Merchant: "toyshop", ProductID: product, Quantity: 1, PriceCents: 500}},
			Buyer: schemas.Buyer{FirstName: "Ada", LastName: "Lovelace", Address1: "1 Main St", City: "Springfield",
				ProvinceCode: "IL", PostalCode: "62701", CountryCode: "US"}}
	}
	want := map[string]string{"toy-placed": "placed", "toy-fails": "dead_lettered:new-payment-method"}
	for _, o := range []schemas.OrderRequested{order("toy-placed", "TOY-1"), order("toy-fails", "fails:TOY-2")} {
		tally.Expect(o)
		if err := svc.Producer().RequestOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...), kgo.ConsumeTopics(topo.Status()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for tally.Finished() < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("orders not finished: %s", tally.Summary())
		}
		fs.EachRecord(func(r *kgo.Record) {
			st, err := svc.Producer().Codec().DecodeOrderStatus(ctx, r.Value)
			if err != nil {
				t.Errorf("decoding a status event: %v", err)
				return
			}
			tally.Observe(st)
		})
	}
	for id, w := range want {
		if got := tally.Outcome(id); got != w {
			t.Errorf("order %s: outcome %q, want %q; events %v", id, got, w, tally.Events(id))
		}
	}
	for ref, entries := range env.Sandbox.Ledger().ByOrderRef() {
		if len(entries) != 1 || entries[0].Provider != toy.Name {
			t.Errorf("ledger for %s: %+v, want one toy charge", ref, entries)
		}
	}
	if n := len(env.Sandbox.Ledger().Entries()); n != 2 {
		t.Errorf("ledger has %d entries, want 2", n)
	}
}
