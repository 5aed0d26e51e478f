package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/promreg"
)

// Metrics count the waits the limits imposed on provider calls.
type Metrics struct {
	waits   *prometheus.CounterVec
	seconds *prometheus.CounterVec
}

// NewMetrics registers the rate-limit metrics with reg; nil registers nowhere.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_ratelimit_waits_total",
			Help: "Provider calls that waited 1 ms or more for a shared rate limit or a provider's 429 block, by provider and tier (submit, other)."},
			[]string{"provider", "tier"}),
		seconds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_ratelimit_wait_seconds_total",
			Help: "Seconds provider calls spent waiting (waits of 1 ms or more) for a shared rate limit or a provider's 429 block, by provider and tier."},
			[]string{"provider", "tier"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.waits, err = promreg.Register(reg, m.waits); err != nil {
		return nil, err
	}
	if m.seconds, err = promreg.Register(reg, m.seconds); err != nil {
		return nil, err
	}
	return m, nil
}
