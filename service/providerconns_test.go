package service_test

import (
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
