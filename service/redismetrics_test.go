package service

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

// TestRedisMetrics: a command alone is one round trip, a pipeline (or a transaction, which
// go-redis hands to the pipeline hook wrapped in MULTI and EXEC) one round trip of its commands;
// a connection's set-up commands count as kind handshake, apart.
func TestRedisMetrics(t *testing.T) {
	m, err := newRedisMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sent []string // what reached the next hook: the metrics hook passes everything on
	one := m.ProcessHook(func(_ context.Context, cmd redis.Cmder) error {
		sent = append(sent, cmd.Name())
		return nil
	})
	pipe := m.ProcessPipelineHook(func(_ context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			sent = append(sent, c.Name())
		}
		return nil
	})
	check := func(step string, trips, cmds float64) {
		t.Helper()
		if got := counterValue(t, m.roundTrips.WithLabelValues("command")); got != trips {
			t.Errorf("after %s: %v round trips, want %v", step, got, trips)
		}
		if got := counterValue(t, m.commands.WithLabelValues("command")); got != cmds {
			t.Errorf("after %s: %v commands, want %v", step, got, cmds)
		}
	}
	_ = one(ctx, redis.NewStatusCmd(ctx, "set", "orderflow:k", "v"))
	check("SET", 1, 1)
	_ = pipe(ctx, []redis.Cmder{redis.NewStringCmd(ctx, "get", "orderflow:k"), redis.NewIntCmd(ctx, "incr", "orderflow:n"),
		redis.NewBoolCmd(ctx, "expire", "orderflow:n", 0)})
	check("a pipeline of 3", 2, 4)
	_ = pipe(ctx, []redis.Cmder{redis.NewStatusCmd(ctx, "multi"), redis.NewIntCmd(ctx, "incr", "orderflow:n"), redis.NewSliceCmd(ctx, "exec")})
	check("MULTI INCR EXEC", 3, 7)
	_ = one(ctx, redis.NewStatusCmd(ctx, "hello", "3"))
	_ = pipe(ctx, []redis.Cmder{redis.NewStatusCmd(ctx, "client", "setinfo", "LIB-NAME", "go-redis"), redis.NewStatusCmd(ctx, "client", "setinfo", "LIB-VER", "9")})
	check("a connection's handshake", 3, 7)
	if got := counterValue(t, m.roundTrips.WithLabelValues("handshake")); got != 2 {
		t.Errorf("handshake round trips %v, want 2", got)
	}
	if got := counterValue(t, m.commands.WithLabelValues("handshake")); got != 3 {
		t.Errorf("handshake commands %v, want 3", got)
	}
	if len(sent) != 10 {
		t.Errorf("the next hooks got %v, want all 10 commands", sent)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}
