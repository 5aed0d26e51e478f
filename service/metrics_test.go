package service_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/ratelimit"
)

// TestMetricsMove runs orders with every terminal outcome through the stack, scrapes a fresh
// registry and checks that each metric an on-call reads moved, with the labels README promises.
func TestMetricsMove(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startStack(t, func(set *stackSetup) {
		set.svc.Registerer = reg
		// A submit tier tight enough that the orders wait for it.
		set.svc.RateLimits = map[string]ratelimit.Limits{"rye": {Submit: 4, Other: 5000}, "digitalriver": {Submit: 1000, Other: 5000}}
	})
	gen := demo.Generator{Prefix: "metrics-", Scenarios: []demo.Scenario{
		demo.Placed, demo.PaymentDeclined, demo.Stuck, demo.AlwaysUnavailable, demo.Placed, demo.DRPlaced}}
	var orders []demo.Order
	for range 6 {
		o := gen.Next()
		orders = append(orders, o)
		s.send(t, o.Request)
	}
	s.waitFinished(t, len(orders), 90*time.Second)
	for _, o := range orders {
		if got := s.tally.Outcome(o.Request.OrderID); got != o.Scenario.Want {
			t.Fatalf("order %s (%s): outcome %q, want %q", o.Request.OrderID, o.Scenario.Name, got, o.Scenario.Want)
		}
	}

	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"orderflow_orders_terminal_total", map[string]string{"outcome": "placed", "action": ""}, 3},
		{"orderflow_orders_terminal_total", map[string]string{"outcome": "dead_lettered", "action": "new-payment-method"}, 1},
		{"orderflow_orders_terminal_total", map[string]string{"outcome": "dead_lettered", "action": "attempts-exhausted"}, 1},
		{"orderflow_orders_terminal_total", map[string]string{"outcome": "needs_attention", "action": "contact-provider"}, 1},
		{"orderflow_dead_letters_total", map[string]string{"action": "new-payment-method"}, 1},
		{"orderflow_dead_letters_total", map[string]string{"action": "attempts-exhausted"}, 1},
		{"orderflow_retries_total", map[string]string{"tier": "fast"}, 1},
		{"orderflow_provider_calls_total", map[string]string{"provider": "rye", "operation": "create_cart", "class": "ok"}, 4},
		{"orderflow_provider_calls_total", map[string]string{"provider": "rye", "operation": "submit", "class": "ok"}, 2},
		{"orderflow_provider_calls_total", map[string]string{"provider": "rye", "operation": "status", "class": "ok"}, 1},
		{"orderflow_provider_calls_total", map[string]string{"provider": "rye", "class": "not-retryable"}, 1},
		{"orderflow_provider_calls_total", map[string]string{"provider": "digitalriver", "operation": "submit", "class": "ok"}, 1},
		{"orderflow_provider_call_duration_seconds", map[string]string{"provider": "rye", "operation": "submit"}, 2},
		{"orderflow_ratelimit_waits_total", map[string]string{"provider": "rye", "tier": "submit"}, 1},
		{"orderflow_ratelimit_wait_seconds_total", map[string]string{"provider": "rye", "tier": "submit"}, 0.01},
		{"orderflow_build_info", map[string]string{"goversion": runtime.Version()}, 1},
		{"orderflow_consumer_wait_seconds", map[string]string{"role": "tracker"}, 1},
		{"orderflow_kafka_requests_total", map[string]string{"client": "producer", "request": "Produce"}, 1},
		{"orderflow_kafka_requests_total", map[string]string{"client": "worker", "request": "Fetch"}, 1},
		{"orderflow_kafka_requests_total", map[string]string{"client": "tracker", "request": "OffsetCommit"}, 1},
		{"orderflow_redis_pool_connections", nil, 1},
	}
	// A record is counted once the producer acknowledged it, which can be just after the test's
	// status reader saw it: poll the registry until every check holds, or report what did not.
	var failed []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		failed = failed[:0]
		for _, c := range checks {
			if got := sum(mfs, c.name, c.labels); got < c.min {
				failed = append(failed, fmt.Sprintf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min))
			}
		}
		if len(failed) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	for _, f := range failed {
		t.Error(f)
	}
}

// sum adds the values (a histogram's sample count) of the series of name whose labels include labels.
func sum(mfs []*dto.MetricFamily, name string, labels map[string]string) float64 {
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			case m.Histogram != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}
