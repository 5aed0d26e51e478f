package service

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/internal/promreg"
)

// DefaultDependencyInterval is Config.DependencyInterval's default.
const DefaultDependencyInterval = 10 * time.Second

// watchedDependencies are the dependencies orderflow_dependency_up reports: Ready's Redis and
// registry checks, and Kafka, which readiness leaves to the groups' first join.
var watchedDependencies = []string{DependencyRedis, DependencyRegistry, DependencyKafka}

// newDependencyUp registers orderflow_dependency_up with reg.
func newDependencyUp(reg prometheus.Registerer) (*prometheus.GaugeVec, error) {
	return promreg.Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orderflow_dependency_up",
		Help: "1 if the dependency (redis, registry, kafka) answered its last check, else 0; checked every DependencyInterval " +
			"with the readiness checks (Redis PING, registry GET /mode, Kafka ApiVersions), each bounded by 1s."},
		[]string{"dependency"}))
}

// watchDependencies checks every watched dependency at once and then every interval until ctx
// ends, and sets orderflow_dependency_up. Its errors are the gauge's business, not the log's:
// /readyz logs a change of the failing checks, and a role that needs Redis retries and logs.
func (s *Service) watchDependencies(ctx context.Context) {
	t := time.NewTicker(s.cfg.DependencyInterval)
	defer t.Stop()
	for {
		for _, c := range s.runChecks(ctx, watchedDependencies...) {
			if ctx.Err() != nil {
				return // a check cut short by the stop says nothing about the dependency
			}
			up := 1.0
			if c.Err != nil {
				up = 0
			}
			s.dependencyUp.WithLabelValues(c.Name).Set(up)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
