package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/sandbox"
)

// Every registered provider's client, built by its descriptor for a concurrency, carries many
// calls at that concurrency over at most that many connections: its transport keeps them
// alive and idle between calls (the default transport keeps 2 per host and dials again for
// most calls). The calls are Status lookups of carts the simulator never saw: answers of every
// kind must leave the connection reusable.
func TestClientsReuseConnections(t *testing.T) {
	cfg, _ := sandbox.Demo().LiftLimits() // the simulators' own rate limits are not under test
	sb, err := sandbox.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	var dialled atomic.Int64
	srv := httptest.NewUnstartedServer(sb)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	const concurrency, each = 16, 25
	for _, m := range sb.Mounts() {
		t.Run(m.Provider, func(t *testing.T) {
			d, ok := provider.Find(providers.All(), m.Provider)
			if !ok {
				t.Fatalf("no descriptor of %q", m.Provider)
			}
			p, err := d.New(provider.Settings{BaseURL: srv.URL + m.Prefix, APIKey: m.APIKey, MaxConns: concurrency})
			if err != nil {
				t.Fatal(err)
			}
			before := dialled.Load()
			var wg sync.WaitGroup
			var answered atomic.Int64
			for g := range concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						_, err := p.Status(context.Background(), fmt.Sprintf("cart-never-created-%d-%d", g, i))
						var pe *provider.Error
						if err == nil || errors.As(err, &pe) && pe.HTTPStatus != 0 {
							answered.Add(1) // an HTTP answer: no orders, or not found
						} else if answered.Load() == 0 {
							t.Errorf("no HTTP answer: %v", err)
						}
					}
				}()
			}
			wg.Wait()
			if answered.Load() != concurrency*each {
				t.Fatalf("%d of %d calls were answered", answered.Load(), concurrency*each)
			}
			if n := dialled.Load() - before; n > concurrency || n == 0 {
				t.Errorf("%d calls, %d at a time, opened %d connections; want 1 to %d", concurrency*each, concurrency, n, concurrency)
			}
		})
	}
}
