package consumer

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sample finds the series of name in reg that has every one of labels; ok is false when there
// is none.
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (m *dto.Metric, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, want := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == k && lp.GetValue() == want
				}
				if !found {
					continue metrics
				}
			}
			return m, true
		}
	}
	return nil, false
}

// gaugeValue reads a gauge from reg; ok is false when the series does not exist.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	m, ok := sample(t, reg, name, labels)
	if !ok || m.GetGauge() == nil {
		return 0, false
	}
	return m.GetGauge().GetValue(), true
}

// metricValue reads a counter, gauge or histogram sample count from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := sample(t, reg, name, labels)
	switch {
	case !ok:
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetHistogram() != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// TestInFlightPerPartition: orderflow_consumer_in_flight{group,topic,partition} counts each
// owned partition's records taken and not finished: it rises while handlers block, returns to 0
// when they finish, and a partition's series disappears when the partition is revoked (a second
// member joins), even while its records still drain, while the kept partition's stays; after
// shutdown no series is left.
func TestInFlightPerPartition(t *testing.T) {
	c := newCluster(t)
	topic, group := c.topic(t, 2), c.group(t)
	var block atomic.Pointer[chan struct{}]
	blockHandlers := func() chan struct{} {
		ch := make(chan struct{})
		block.Store(&ch)
		return ch
	}
	release := blockHandlers()
	reg := prometheus.NewRegistry()
	cfg := testConfig(c, group, topic)
	cfg.Registerer = reg
	m1 := start(t, "m1", cfg, HandlerFunc(func(ctx context.Context, _ *kgo.Record) error {
		select {
		case <-*block.Load():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	waitFor(t, 30*time.Second, "assignment", func() bool { return len(m1.assignedParts()) == 2 })
	inFlight := func(partition int32) (float64, bool) {
		return gaugeValue(t, reg, "orderflow_consumer_in_flight",
			map[string]string{"group": group, "topic": topic, "partition": fmt.Sprint(partition)})
	}
	// produce sends n records of distinct keys to each partition, so that they all run at once.
	phase := 0
	produce := func(n map[int32]int) {
		phase++
		var recs []*kgo.Record
		for p, k := range n {
			for i := range k {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d-%d-%d", phase, p, i)})
			}
		}
		c.produce(t, recs...)
	}
	at := func(want map[int32]float64) func() bool {
		return func() bool {
			for p, w := range want {
				if got, ok := inFlight(p); !ok || got != w {
					return false
				}
			}
			return true
		}
	}

	produce(map[int32]int{0: 3, 1: 2})
	waitFor(t, 30*time.Second, "in flight 3 and 2 while the handlers block", at(map[int32]float64{0: 3, 1: 2}))
	close(release)
	waitFor(t, 30*time.Second, "in flight back to 0 on both partitions", at(map[int32]float64{0: 0, 1: 0}))

	release = blockHandlers()
	produce(map[int32]int{0: 2, 1: 4})
	waitFor(t, 30*time.Second, "in flight 2 and 4 while the handlers block", at(map[int32]float64{0: 2, 1: 4}))
	start(t, "m2", testConfig(c, group, topic), HandlerFunc(func(context.Context, *kgo.Record) error { return nil }))
	waitFor(t, 30*time.Second, "one partition revoked from m1", func() bool { return len(m1.assignedParts()) == 1 })
	var kept, gone int32 = 0, 1
	if !m1.assignedParts()[tp{topic, 0}] {
		kept, gone = 1, 0
	}
	waitFor(t, 30*time.Second, "the revoked partition's series gone, the kept one's at its blocked count", func() bool {
		_, ok := inFlight(gone)
		n, keptOK := inFlight(kept)
		return !ok && keptOK && n == map[int32]float64{0: 2, 1: 4}[kept]
	})
	close(release)
	waitFor(t, 30*time.Second, "the kept partition's in flight back to 0", at(map[int32]float64{kept: 0}))
	if _, ok := inFlight(gone); ok {
		t.Errorf("partition %d's in-flight series came back after its revoke", gone)
	}
	m1.shutdown(t)
	if m, ok := sample(t, reg, "orderflow_consumer_in_flight", nil); ok {
		t.Errorf("in-flight series %v left after shutdown, want none", m.GetLabel())
	}
}
