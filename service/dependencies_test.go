package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// TestDependencyUp: orderflow_dependency_up is 1 for Redis, the registry and Kafka while they
// answer, drops to 0 for Redis alone when Redis goes away, and comes back when Redis does. It
// runs on the in-process stack whatever ORDERFLOW_TEST_* says: it stops and restarts Redis.
func TestDependencyUp(t *testing.T) {
	env, err := embedded.Start(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	providers, err := env.Providers(embedded.Config{}.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.New(ctx, service.Config{Brokers: env.Brokers, RegistryURL: env.RegistryURL, RedisURL: env.RedisURL,
		Providers: providers, Topology: topology.Topology{Prefix: fmt.Sprintf("dep%d.", time.Now().UnixNano()), Partitions: 1},
		Registerer: reg, DependencyInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("service run: %v", err)
		}
		svc.Close()
	})

	waitUp := func(when string, want map[string]float64) {
		t.Helper()
		var got map[string]float64
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) { // poll interval
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got = map[string]float64{} // a dependency without a series is missing from got
			for _, mf := range mfs {
				if mf.GetName() != "orderflow_dependency_up" {
					continue
				}
				for _, m := range mf.GetMetric() {
					got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			}
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
		}
		t.Fatalf("%s: orderflow_dependency_up %v, want %v", when, got, want)
	}
	waitUp("all reachable", map[string]float64{"redis": 1, "registry": 1, "kafka": 1})
	env.Redis.Close()
	waitUp("redis closed", map[string]float64{"redis": 0, "registry": 1, "kafka": 1})
	if err := env.Redis.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUp("redis restarted", map[string]float64{"redis": 1, "registry": 1, "kafka": 1})
}
