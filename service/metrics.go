package service

import (
	"errors"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider/providermetrics"
	"github.com/orderflow/orderflow/ratelimit"
)

// metrics are the service's own metrics, beside the consumer engine's (orderflow_consumer_*)
// and franz-go's (orderflow_kafka_*): README's "Metrics" table lists them all.
type metrics struct {
	processor *processor.Metrics       // terminal outcomes, retries by tier, dead letters
	provider  *providermetrics.Metrics // provider calls and latency
	ratelimit *ratelimit.Metrics       // rate-limit waits
	redis     *redisMetrics            // Redis round trips and commands (redismetrics.go)
	// dependencyUp is orderflow_dependency_up{dependency}: 1 if it answered its last check.
	dependencyUp *prometheus.GaugeVec
}

// newMetrics registers the service's metrics and orderflow_build_info with reg; with a nil reg
// they count into an unregistered registry, so the code paths stay the same.
func newMetrics(reg prometheus.Registerer, version string) (*metrics, error) {
	reg = registerer(reg)
	if version == "" {
		version = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			version = bi.Main.Version
		}
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "orderflow_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	info.Set(1)
	if err := reg.Register(info); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return nil, err
	}
	var m metrics
	var err error
	if m.processor, err = processor.NewMetrics(reg); err != nil {
		return nil, err
	}
	if m.provider, err = providermetrics.New(reg); err != nil {
		return nil, err
	}
	if m.ratelimit, err = ratelimit.NewMetrics(reg); err != nil {
		return nil, err
	}
	if m.redis, err = newRedisMetrics(reg); err != nil {
		return nil, err
	}
	if m.dependencyUp, err = newDependencyUp(reg); err != nil {
		return nil, err
	}
	return &m, nil
}
