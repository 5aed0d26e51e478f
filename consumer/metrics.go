package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/orderflow/orderflow/internal/promreg"
)

type metrics struct {
	inFlight *prometheus.GaugeVec
	lag      *prometheus.GaugeVec
	records  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, group string) (*metrics, error) {
	labels := prometheus.Labels{"group": group}
	m := &metrics{
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "in_flight",
			Help: "Records of each partition this member owns taken from Kafka and not yet finished (held and waiting ones " +
				"included). A revoked partition's series is removed (its next owner reports it).",
			ConstLabels: labels}, []string{"topic", "partition"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "lag",
			Help: "Committed lag of each partition this member owns: its high watermark minus the group's committed offset " +
				"(the log start offset while nothing is committed), refreshed every LagInterval. A stuck partition keeps its lag.",
			ConstLabels: labels}, []string{"topic", "partition"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "records_total",
			Help: "Records by outcome: ok, dead_lettered, retried (per failed try), abandoned.", ConstLabels: labels}, []string{"topic", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "handler_seconds",
			Help: "Time from a record's first handler call to its finish.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"topic"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "wait_seconds",
			Help: "Time from when a record could first be handled (its timestamp, or its due time when later) to its first " +
				"handler call: the time it waited for the fetch, the in-flight cap, its key's earlier records and the " +
				"held records before it. Negative waits (clock skew between producer and consumer hosts) count as 0.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"topic"}),
	}
	if reg == nil {
		return m, nil
	}
	// A second engine of the group on reg (service.New retried) shares the registered collectors.
	var err error
	if m.inFlight, err = promreg.Register(reg, m.inFlight); err != nil {
		return nil, err
	}
	if m.lag, err = promreg.Register(reg, m.lag); err != nil {
		return nil, err
	}
	if m.records, err = promreg.Register(reg, m.records); err != nil {
		return nil, err
	}
	if m.latency, err = promreg.Register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.wait, err = promreg.Register(reg, m.wait); err != nil {
		return nil, err
	}
	return m, nil
}

// labels are t's topic and partition label values.
func (t tp) labels() []string { return []string{t.topic, strconv.Itoa(int(t.partition))} }

// lagLoop refreshes the lag gauge every LagInterval until ctx ends.
func (c *Consumer) lagLoop(ctx context.Context) {
	if c.cfg.Registerer == nil {
		return // nobody can read it
	}
	adm := kadm.NewClient(c.cl)
	every(ctx, c.cfg.LagInterval, func() {
		if err := c.updateLag(ctx, adm); err != nil && ctx.Err() == nil {
			c.cfg.Logger.Warn("refreshing the lag gauge", "group", c.cfg.Group, "err", err)
		}
	})
}

// updateLag sets the lag gauge of every partition this member owns to its committed lag: the
// partition's end offset (high watermark) minus the group's committed offset, or minus the log
// start offset while the group committed nothing for it. This is the lag a stuck partition
// keeps: its records were fetched and accepted long ago, but its commit point does not move.
// Both offsets come from the brokers, so the gauge is right whatever the engine believes.
func (c *Consumer) updateLag(ctx context.Context, adm *kadm.Client) error {
	c.mu.Lock()
	owned := make(map[tp]*partition, len(c.parts))
	var topics []string
	for k, p := range c.parts {
		owned[k] = p
		if !slices.Contains(topics, k.topic) {
			topics = append(topics, k.topic)
		}
	}
	c.mu.Unlock()
	if len(owned) == 0 || c.dead.Load() {
		return nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	commits, err := adm.FetchOffsets(ctx, c.cfg.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("fetching committed offsets: %w", err)
	}
	var starts kadm.ListedOffsets
	lags := make(map[tp]int64, len(owned))
	for k := range owned {
		end, ok := ends.Lookup(k.topic, k.partition)
		if !ok || end.Err != nil {
			continue
		}
		from := int64(-1)
		if o, ok := commits.Lookup(k.topic, k.partition); ok && o.Err == nil {
			from = o.At
		}
		if from < 0 {
			if starts == nil {
				if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
					return fmt.Errorf("listing start offsets: %w", err)
				}
			}
			start, ok := starts.Lookup(k.topic, k.partition)
			if !ok || start.Err != nil {
				continue
			}
			from = start.Offset
		}
		lags[k] = max(0, end.Offset-from)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, lag := range lags {
		if p := c.parts[k]; p != nil && p == owned[k] { // still this assignment (detach deletes)
			c.metrics.lag.WithLabelValues(k.labels()...).Set(float64(lag))
		}
	}
	return nil
}
