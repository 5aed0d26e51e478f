package service_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

func TestRedisPrefixPerDeployment(t *testing.T) {
	for _, tc := range []struct {
		topics, redis, want string
	}{
		{topics: "", want: "orderflow"}, // the default topology: the namespace of every earlier release
		{topics: "orders.", want: "orderflow"},
		{topics: "acme.", want: "orderflow:acme."},
		{topics: "acme", want: "orderflow:acme"},
		{topics: "acme.", redis: "shared-by-hand", want: "shared-by-hand"},
	} {
		cfg := service.Config{Brokers: []string{"k:9092"}, RegistryURL: "http://r", RedisURL: "redis://r:6379/0",
			Providers: map[string]provider.Provider{"rye": nil}, Topology: topology.Topology{Prefix: tc.topics}, Redis: idempotency.Config{Prefix: tc.redis}}
		cfg = cfg.WithDefaults()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.Redis.Prefix != tc.want {
			t.Errorf("topic prefix %q, redis prefix %q: namespace %q, want %q", tc.topics, tc.redis, cfg.Redis.Prefix, tc.want)
		}
	}
}

// startDeployment runs one orderflow deployment with topic prefix prefix, its Redis namespace
// left to the default (derived from the topic prefix), on shared's Kafka, registry and Redis
// (nil: start them, or use the ORDERFLOW_TEST_* services) with a provider sandbox of its own.
func startDeployment(t *testing.T, shared *embedded.Env, prefix string) *stack {
	t.Helper()
	return startStack(t, func(set *stackSetup) {
		if shared != nil {
			set.env.Brokers, set.env.RegistryURL, set.env.RedisURL = shared.Brokers, shared.RegistryURL, shared.RedisURL
		}
		set.svc.Topology.Prefix = prefix
		set.svc.Redis = idempotency.Config{} // the namespace derived from the topic prefix
	})
}

// keyWatch collects every Redis key matching pattern while a test runs: rate-limit keys live
// only about a second after their last use, so a look at the end would miss them.
func keyWatch(t *testing.T, redisURL, pattern string) (stop func() map[string]bool) {
	t.Helper()
	opt, err := service.RedisOptions(redisURL, "", "", redisTLS(t, redisURL))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	seen := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	look := func() {
		keys, _ := rdb.Keys(ctx, pattern).Result()
		for _, k := range keys {
			seen[k] = true
		}
	}
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			look()
			time.Sleep(20 * time.Millisecond) // sampling, not waiting for a condition
		}
	}()
	return func() map[string]bool {
		cancel()
		<-done
		ctx = context.Background()
		look()
		rdb.Close()
		return seen
	}
}

// Two deployments with different topic prefixes on one Redis (and one Kafka and registry) keep
// apart: the same order id sent to both is placed by each at its own provider with its own
// cart, another payload under the same id is no conflict, each allocates its own replacement
// attempt, and every key each one writes (records, history, allocations, rate limits) is in its
// own namespace.
func TestTwoDeploymentsShareOneRedis(t *testing.T) {
	run := fmt.Sprintf("t%d", time.Now().UnixNano())
	a := startDeployment(t, nil, run+"-a.")
	b := startDeployment(t, a.env, run+"-b.")
	ctx := context.Background()
	watch := keyWatch(t, a.env.RedisURL, "*"+run+"*")

	same := demo.Placed.Build(run+"-same", 1)
	payload := demo.Placed.Build(run+"-payload", 2)
	other := payload
	other.Items = append(other.Items[:0:0], payload.Items...)
	other.Items[0].Quantity++ // another payload under the same order id and attempt
	replaced := demo.OutOfStockOnce.Build(run+"-replaced", 3)

	a.send(t, same, payload, replaced)
	a.waitFinished(t, 3, 60*time.Second)
	b.send(t, same, other, replaced) // after A finished them: B must not see A's records
	b.waitFinished(t, 3, 60*time.Second)

	for _, d := range []struct {
		name string
		s    *stack
	}{{"a", a}, {"b", b}} {
		byRef := d.s.env.Sandbox.Ledger().ByOrderRef()
		for _, o := range []struct {
			id       string
			attempts int
		}{{same.OrderID, 1}, {payload.OrderID, 1}, {replaced.OrderID, 2}} {
			if got := d.s.tally.Outcome(o.id); got != "placed" {
				t.Errorf("deployment %s, order %s: outcome %q, want placed; events %v", d.name, o.id, got, d.s.tally.Events(o.id))
			}
			for n := 1; n <= o.attempts; n++ {
				entries := byRef[fmt.Sprintf("%s/%d", o.id, n)]
				rec, err := d.s.store.Get(ctx, o.id, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(entries) != 1 || rec.CartID != entries[0].CartID {
					t.Errorf("deployment %s, order %s attempt %d: its store names cart %q, its provider's ledger %v; want the one cart it submitted itself",
						d.name, o.id, n, rec.CartID, cartIDs(entries))
				}
			}
		}
	}
	for _, id := range []string{same.OrderID, replaced.OrderID} {
		ra, _ := a.store.Get(ctx, id, 1)
		rb, _ := b.store.Get(ctx, id, 1)
		if ra.CartID == rb.CartID {
			t.Errorf("order %s: both deployments name cart %q", id, ra.CartID)
		}
	}

	// Every key of the run is in one of the two namespaces, and each namespace holds every kind.
	seen := watch()
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	nsA, nsB := service.RedisPrefix(a.topo.Prefix)+":", service.RedisPrefix(b.topo.Prefix)+":"
	for _, ns := range []string{nsA, nsB} {
		for _, kind := range []string{ns + "attempt:{", ns + "attempts:{", ns + "ratelimit:"} {
			if !hasKey(keys, kind) {
				t.Errorf("no %s* key; keys %q", kind, keys)
			}
		}
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, nsA) && !strings.HasPrefix(k, nsB) {
			t.Errorf("key %q is in neither deployment's namespace", k)
		}
	}
}

func hasKey(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func cartIDs(entries []ledger.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.CartID
	}
	return out
}

// A topic prefix Kafka would refuse is refused before anything is created: it would also let a
// derived Redis namespace (which ':' separates) run into another.
func TestTopicPrefixMustSuitKafka(t *testing.T) {
	for _, p := range []string{"acme:orders.", "a b.", "acme/"} {
		cfg := service.Config{Brokers: []string{"k:9092"}, RegistryURL: "http://r", RedisURL: "redis://r:6379/0",
			Providers: map[string]provider.Provider{"rye": nil}, Topology: topology.Topology{Prefix: p}}
		if err := cfg.WithDefaults().Validate(); err == nil {
			t.Errorf("topic prefix %q accepted", p)
		}
		if _, err := service.New(context.Background(), cfg); !errors.As(err, new(*service.ConfigError)) {
			t.Errorf("topic prefix %q: New returned %v, want a *service.ConfigError", p, err)
		}
	}
}
