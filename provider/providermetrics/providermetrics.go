// Package providermetrics wraps a provider.Provider so that every call is counted by provider,
// operation and outcome class, and timed. service.New puts it inside the rate limiter, so the
// latency is the provider's own and a call the limiter stopped is never counted.
package providermetrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/promreg"
	"github.com/orderflow/orderflow/provider"
)

// Classes beyond provider.Class's names, the values of the class label.
const (
	ClassOK         = "ok"         // the call succeeded
	ClassNotCalled  = "not-called" // provider.ErrNotCalled: a decorator inside stopped it
	ClassUnexpected = "unexpected" // an error that is no *provider.Error (a contract breach)
)

// Metrics are the provider call metrics, shared by every wrapped provider.
type Metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New registers the metrics with reg; nil registers nowhere.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_provider_calls_total",
			Help: "Checkout provider calls by provider, operation (create_cart, submit, status) and class (ok or the error's class)."},
			[]string{"provider", "operation", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orderflow_provider_call_duration_seconds",
			Help:    "Latency of checkout provider calls, whatever their outcome.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"provider", "operation"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.calls, err = promreg.Register(reg, m.calls); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// Wrap returns p with every call counted and timed in m.
func (m *Metrics) Wrap(p provider.Provider) provider.Provider {
	return &metered{Provider: p, m: m}
}

type metered struct {
	provider.Provider
	m *Metrics
}

func (p *metered) observe(op string, start time.Time, err error) {
	class := ClassOK
	var pe *provider.Error
	switch {
	case err == nil:
	case errors.As(err, &pe):
		class = pe.Class.String()
	case errors.Is(err, provider.ErrNotCalled):
		class = ClassNotCalled
	default:
		class = ClassUnexpected
	}
	name := p.Name()
	p.m.calls.WithLabelValues(name, op, class).Inc()
	p.m.duration.WithLabelValues(name, op).Observe(time.Since(start).Seconds())
}

func (p *metered) CreateCart(ctx context.Context, req provider.CartRequest) (provider.Cart, error) {
	start := time.Now()
	c, err := p.Provider.CreateCart(ctx, req)
	p.observe(provider.OpCreateCart, start, err)
	return c, err
}

func (p *metered) Submit(ctx context.Context, req provider.SubmitRequest) (provider.Submission, error) {
	start := time.Now()
	s, err := p.Provider.Submit(ctx, req)
	p.observe(provider.OpSubmit, start, err)
	return s, err
}

func (p *metered) Status(ctx context.Context, cartID string) (provider.Placement, error) {
	start := time.Now()
	pl, err := p.Provider.Status(ctx, cartID)
	p.observe(provider.OpStatus, start, err)
	return pl, err
}
