package service

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/promreg"
)

// redisMetrics counts what orderflow asks of Redis, as a go-redis hook on the service's client
// (the idempotency store and the rate limiter share it): round trips (one per command sent
// alone, one per pipeline or MULTI/EXEC) and the commands they carried, by kind: "command" for
// orderflow's own, "handshake" for what go-redis sends to set a connection up (HELLO, AUTH,
// CLIENT SETINFO...; once per new connection, or again on every use when a server refuses part
// of it, as miniredis does). A script's EVALSHA is one command here; what the script runs inside
// Redis is not seen by the client.
//
// Beside them, pool reports the client's connection pool at each scrape (poolCollector).
type redisMetrics struct {
	roundTrips *prometheus.CounterVec
	commands   *prometheus.CounterVec
	pool       *poolCollector
}

func newRedisMetrics(reg prometheus.Registerer) (*redisMetrics, error) {
	m := &redisMetrics{
		roundTrips: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_redis_round_trips_total",
			Help: "Requests sent to Redis: one per command sent alone, one per pipeline or transaction; kind command or handshake (connection set-up)."}, []string{"kind"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_redis_commands_total",
			Help: "Commands sent to Redis (a pipeline's each; a script call is one); kind command or handshake."}, []string{"kind"}),
		pool: newPoolCollector(),
	}
	// A retried service.New registers again: it gets the collectors registered the first time.
	var err error
	if m.roundTrips, err = promreg.Register(reg, m.roundTrips); err != nil {
		return nil, err
	}
	if m.commands, err = promreg.Register(reg, m.commands); err != nil {
		return nil, err
	}
	if m.pool, err = promreg.Register(reg, m.pool); err != nil {
		return nil, err
	}
	return m, nil
}

// poolCollector reads go-redis's PoolStats of the service's client when scraped: waits for a
// free connection and their time, timeouts, connections open and idle. Before New made the
// client it reports zeros; a retried New points it at the new client.
type poolCollector struct {
	client                       atomic.Pointer[redis.Client]
	waits, waitSeconds, timeouts *prometheus.Desc
	connections, idleConnections *prometheus.Desc
}

func newPoolCollector() *poolCollector {
	return &poolCollector{
		waits: prometheus.NewDesc("orderflow_redis_pool_waits_total",
			"Redis calls that waited for a free connection of the pool (every connection was busy).", nil, nil),
		waitSeconds: prometheus.NewDesc("orderflow_redis_pool_wait_seconds_total",
			"Time Redis calls spent waiting for a free connection of the pool.", nil, nil),
		timeouts: prometheus.NewDesc("orderflow_redis_pool_timeouts_total",
			"Redis calls that gave up waiting for a free connection (the pool timeout).", nil, nil),
		connections: prometheus.NewDesc("orderflow_redis_pool_connections",
			"Connections of the Redis pool open now (at most its size: service.Config.RedisPoolSize, --redis-pool).", nil, nil),
		idleConnections: prometheus.NewDesc("orderflow_redis_pool_idle_connections",
			"Connections of the Redis pool open and idle now.", nil, nil),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.waits, p.waitSeconds, p.timeouts, p.connections, p.idleConnections} {
		ch <- d
	}
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	var st redis.PoolStats
	if c := p.client.Load(); c != nil {
		st = *c.PoolStats()
	}
	ch <- prometheus.MustNewConstMetric(p.waits, prometheus.CounterValue, float64(st.WaitCount))
	ch <- prometheus.MustNewConstMetric(p.waitSeconds, prometheus.CounterValue, float64(st.WaitDurationNs)/1e9)
	ch <- prometheus.MustNewConstMetric(p.timeouts, prometheus.CounterValue, float64(st.Timeouts))
	ch <- prometheus.MustNewConstMetric(p.connections, prometheus.GaugeValue, float64(st.TotalConns))
	ch <- prometheus.MustNewConstMetric(p.idleConnections, prometheus.GaugeValue, float64(st.IdleConns))
}

// kind is "handshake" for the commands go-redis sends when it sets a connection up.
func kind(first redis.Cmder) string {
	switch first.Name() {
	case "hello", "auth", "client", "select", "readonly":
		return "handshake"
	}
	return "command"
}

var _ redis.Hook = (*redisMetrics)(nil)

func (m *redisMetrics) DialHook(next redis.DialHook) redis.DialHook { return next }

func (m *redisMetrics) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		k := kind(cmd)
		m.roundTrips.WithLabelValues(k).Inc()
		m.commands.WithLabelValues(k).Inc()
		return next(ctx, cmd)
	}
}

func (m *redisMetrics) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 {
			k := kind(cmds[0])
			m.roundTrips.WithLabelValues(k).Inc()
			m.commands.WithLabelValues(k).Add(float64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}
