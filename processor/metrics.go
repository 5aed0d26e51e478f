package processor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/promreg"

	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
)

// Metrics count what the roles produced: terminal statuses, delay-tier retries and dead letters;
// and the tracker's polls per attempt it ended (orderflow_tracker_polls).
// They are counted once the producer acknowledged the records, so a record retried after a failed
// send is not counted twice; a redelivery that re-emits a stored outcome (after a crash or a
// rebalance) does count it again, as downstream sees it again. A nil *Metrics counts nothing.
type Metrics struct {
	orders      *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	polls       prometheus.Histogram
}

// NewMetrics registers the roles' metrics with reg (nil registers nowhere). Registering twice
// with one Registerer reuses the registered collectors, so several roles may share them.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_orders_terminal_total",
			Help: "Merchant orders by terminal outcome (placed, dead_lettered, needs_attention) and the action a person must take (empty for placed)."},
			[]string{"outcome", "action"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_retries_total",
			Help: "Order attempts the reconciler sent through a retry delay tier, by tier."}, []string{"tier"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_dead_letters_total",
			Help: "Dead letters produced, by action (fix-record for records that could not be processed at all)."}, []string{"action"}),
		polls: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "orderflow_tracker_polls",
			Help:    "Placement polls (status calls) of each order attempt the tracker ended, over all its tracking chains.",
			Buckets: []float64{1, 2, 3, 5, 8, 13, 21, 50, 100, 200, 500}}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.orders, err = promreg.Register(reg, m.orders)
	if err == nil {
		m.retries, err = promreg.Register(reg, m.retries)
	}
	if err == nil {
		m.deadLetters, err = promreg.Register(reg, m.deadLetters)
	}
	if err == nil {
		m.polls, err = promreg.Register(reg, m.polls)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// sent counts the records of msgs, which the producer acknowledged.
func (m *Metrics) sent(c *Config, msgs []producer.Message) {
	if m == nil {
		return
	}
	for _, msg := range msgs {
		switch v := msg.Value.(type) {
		case schemas.OrderStatus:
			if v.Terminal {
				m.orders.WithLabelValues(v.State, v.Action).Inc()
			}
		case schemas.DeadLetter:
			m.deadLetters.WithLabelValues(v.Action).Inc()
		case schemas.OrderRequested:
			for i, t := range c.Topology.Tiers {
				if msg.Topic == c.Topology.Retry(i) {
					m.retries.WithLabelValues(t.Name).Inc()
					break
				}
			}
		}
	}
}

// tracked counts the polls of an attempt the tracker ended.
func (m *Metrics) tracked(polls int) {
	if m == nil {
		return
	}
	m.polls.Observe(float64(polls))
}
