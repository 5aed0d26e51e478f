package service_test

import (
	"runtime"
	"testing"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/service"
)

// ProviderConns is the in-flight cap of every role that calls providers (worker and tracker),
// so a pool sized with it carries every call the roles can make at once.
func TestProviderConnsFollowsTheInFlightCap(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  service.Config
		want int
	}{
		{"defaults: worker and tracker at the engine's default", service.Config{}, 2 * consumer.DefaultMaxInFlight},
		{"every role", service.Config{MaxInFlight: 7}, 14},
		{"worker only", service.Config{MaxInFlight: 7, Roles: []string{service.RoleWorker}}, 7},
		{"tracker and reconciler", service.Config{MaxInFlight: 7, Roles: []string{service.RoleTracker, service.RoleReconciler}}, 7},
		{"reconciler only: no provider calls, a minimal pool", service.Config{MaxInFlight: 7, Roles: []string{service.RoleReconciler}}, 1},
	} {
		if got := tc.cfg.ProviderConns(); got != tc.want {
			t.Errorf("%s: ProviderConns() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// The Redis pool follows the in-flight cap (a quarter of it, at least go-redis's 10 per CPU)
// unless the configuration or, next, the URL's pool_size sets it.
func TestRedisPoolFollowsTheInFlightCap(t *testing.T) {
	floor := 10 * runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		cfg     service.Config
		fromURL int
		want    int
	}{
		{service.Config{}, 0, max(floor, 250)},
		{service.Config{MaxInFlight: 4000}, 0, max(floor, 1000)},
		{service.Config{MaxInFlight: 8}, 0, floor},
		{service.Config{MaxInFlight: 4000}, 30, 30},
		{service.Config{MaxInFlight: 4000, RedisPoolSize: 7}, 30, 7},
	} {
		if got := tc.cfg.WithDefaults().RedisPool(tc.fromURL); got != tc.want {
			t.Errorf("MaxInFlight %d, RedisPoolSize %d, pool_size %d: pool %d, want %d", tc.cfg.MaxInFlight, tc.cfg.RedisPoolSize, tc.fromURL, got, tc.want)
		}
	}
}
