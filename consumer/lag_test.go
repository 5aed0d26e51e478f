package consumer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLagShowsStuckPartition: the lag gauge is the committed lag. A partition whose first
// record's handler blocks keeps all of its records as lag, though every one of them was fetched
// long ago (the fetch position is at the high watermark), while the other partition's lag goes
// to 0 once its records are done; when the handler is released, the stuck partition's lag goes
// to 0 too. (The gauge used to read the distance from the last fetched record to the high
// watermark: 0 for both.)
func TestLagShowsStuckPartition(t *testing.T) {
	c := newCluster(t)
	topic, group := c.topic(t, 2), c.group(t)
	var recs []*kgo.Record
	for i := range 3 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("stuck"), Value: fmt.Appendf(nil, "s%d", i)})
	}
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 1, Key: fmt.Appendf(nil, "free%d", i), Value: []byte("x")})
	}
	c.produce(t, recs...)

	release := make(chan struct{})
	reg := prometheus.NewRegistry()
	cfg := testConfig(c, group, topic)
	cfg.Registerer = reg
	cfg.LagInterval = 50 * time.Millisecond
	l := newLedger()
	m := start(t, "m", cfg, l.handler("m", func(ctx context.Context, r *kgo.Record) error {
		if r.Partition == 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}))
	lag := func(partition string) (float64, bool) {
		return gaugeValue(t, reg, "orderflow_consumer_lag", map[string]string{"topic": topic, "partition": partition})
	}
	waitFor(t, 30*time.Second, "partition 1 handled and committed", func() bool { return c.committed(t, group, topic)[1] == 5 })
	waitFor(t, 30*time.Second, "partition 1's lag at 0 and partition 0's at 3", func() bool {
		free, ok1 := lag("1")
		stuck, ok0 := lag("0")
		return ok1 && free == 0 && ok0 && stuck == 3
	})
	if n := len(l.handledSet(topic)[0]); n != 0 {
		t.Fatalf("%d records of the stuck partition handled while its first record blocks", n)
	}
	close(release)
	waitFor(t, 30*time.Second, "partition 0's lag at 0 once released", func() bool {
		stuck, ok := lag("0")
		return ok && stuck == 0
	})
	m.shutdown(t)
}
