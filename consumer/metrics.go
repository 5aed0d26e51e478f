package consumer

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	inFlight prometheus.Gauge
	lag      *prometheus.GaugeVec
	records  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, group string) (*metrics, error) {
	labels := prometheus.Labels{"group": group}
	m := &metrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "in_flight",
			Help: "Records taken from Kafka and not yet finished.", ConstLabels: labels}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "lag",
			Help: "Committed lag of each partition this member owns: its high watermark minus the group's committed offset " +
				"(the log start offset while nothing is committed), refreshed every LagInterval. A stuck partition keeps its lag.",
			ConstLabels: labels}, []string{"topic", "partition"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "records_total",
			Help: "Records by outcome: ok, dead_lettered, retried (per failed try), abandoned.", ConstLabels: labels}, []string{"topic", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "consumer", Name: "handler_seconds",
			Help: "Time from a record's first handler call to its finish.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"topic"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.inFlight, m.lag, m.records, m.latency} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
