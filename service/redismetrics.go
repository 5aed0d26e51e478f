package service

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// redisMetrics counts what orderflow asks of Redis, as a go-redis hook on the service's client
// (the idempotency store and the rate limiter share it): round trips (one per command sent
// alone, one per pipeline or MULTI/EXEC, a new connection's handshake included) and the commands
// they carried. A script's EVALSHA is one command here; what the script runs inside Redis is
// not seen by the client.
type redisMetrics struct {
	roundTrips prometheus.Counter
	commands   prometheus.Counter
}

func newRedisMetrics(reg prometheus.Registerer) (*redisMetrics, error) {
	m := &redisMetrics{
		roundTrips: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_redis_round_trips_total",
			Help: "Requests sent to Redis and answered or failed: one per command sent alone, one per pipeline or transaction."}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{Name: "orderflow_redis_commands_total",
			Help: "Commands sent to Redis (a pipeline's each; a script call is one)."}),
	}
	for _, c := range []prometheus.Collector{m.roundTrips, m.commands} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, err
		}
	}
	return m, nil
}

var _ redis.Hook = (*redisMetrics)(nil)

func (m *redisMetrics) DialHook(next redis.DialHook) redis.DialHook { return next }

func (m *redisMetrics) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		m.roundTrips.Inc()
		m.commands.Inc()
		return next(ctx, cmd)
	}
}

func (m *redisMetrics) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		m.roundTrips.Inc()
		m.commands.Add(float64(len(cmds)))
		return next(ctx, cmds)
	}
}
