package service

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisMetrics counts what orderflow asks of Redis, as a go-redis hook on the service's client
// (the idempotency store and the rate limiter share it): round trips (one per command sent
// alone, one per pipeline or MULTI/EXEC) and the commands they carried, by kind: "command" for
// orderflow's own, "handshake" for what go-redis sends to set a connection up (HELLO, AUTH,
// CLIENT SETINFO...; once per new connection, or again on every use when a server refuses part
// of it, as miniredis does). A script's EVALSHA is one command here; what the script runs inside
// Redis is not seen by the client.
type redisMetrics struct {
	roundTrips *prometheus.CounterVec
	commands   *prometheus.CounterVec
}

func newRedisMetrics(reg prometheus.Registerer) (*redisMetrics, error) {
	m := &redisMetrics{
		roundTrips: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_redis_round_trips_total",
			Help: "Requests sent to Redis: one per command sent alone, one per pipeline or transaction; kind command or handshake (connection set-up)."}, []string{"kind"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orderflow_redis_commands_total",
			Help: "Commands sent to Redis (a pipeline's each; a script call is one); kind command or handshake."}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.roundTrips, m.commands} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, err
		}
	}
	return m, nil
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
