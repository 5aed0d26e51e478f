package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// get fetches path from srv and decodes its JSON body.
func get(t *testing.T, srv *httptest.Server, path string) (int, readyBody) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body readyBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: body %q is not JSON: %v", path, raw, err)
	}
	return resp.StatusCode, body
}

// pollReadyz polls /readyz until want says yes or the deadline passes.
func pollReadyz(t *testing.T, srv *httptest.Server, what string, want func(int, readyBody) bool) readyBody {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, srv, "/readyz")
		if want(code, body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never %s: last %d %+v", what, code, body)
		}
		time.Sleep(20 * time.Millisecond) // a polling interval, not a wait for an event
	}
}

// /healthz answers while the process serves; /readyz is 503 while the service starts and while
// the roles' groups are not joined (the broker holds every JoinGroup), 200 once all joined with
// Redis and the registry reachable, and 503 naming redis when Redis goes away.
func TestHealthEndpoints(t *testing.T) {
	env, err := embedded.Start(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	// Hold every JoinGroup (answer "coordinator loading", which kgo retries) until released.
	var hold atomic.Bool
	hold.Store(true)
	env.Kafka.ControlKey(kmsg.JoinGroup.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !hold.Load() {
			env.Kafka.DropControl()
			return nil, nil, false
		}
		env.Kafka.KeepControl()
		resp := req.(*kmsg.JoinGroupRequest).ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil, true
	})

	hc := &health{log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(metricsMux(prometheus.NewRegistry(), hc, false))
	t.Cleanup(srv.Close)

	if code, body := get(t, srv, "/healthz"); code != http.StatusOK || body.Status != "ok" {
		t.Errorf("/healthz: %d %+v, want 200 ok", code, body)
	}
	if code, body := get(t, srv, "/readyz"); code != http.StatusServiceUnavailable || !slices.Equal(body.Failing, []string{"service"}) {
		t.Errorf("/readyz while starting: %d %+v, want 503 naming service", code, body)
	}

	providers, err := env.Providers(embedded.Config{}.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	cfg := service.Config{Brokers: env.Brokers, RegistryURL: env.RegistryURL, RedisURL: env.RedisURL, Providers: providers,
		Topology: topology.Topology{Prefix: fmt.Sprintf("health%d.", time.Now().UnixNano()), Partitions: 1}}
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := startService(ctx, cfg, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		svc.Close()
	})
	hc.set(svc)

	groups := []string{"group:worker", "group:tracker", "group:reconciler"}
	code, body := get(t, srv, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with every JoinGroup held: %d %+v, want 503", code, body)
	}
	for _, g := range groups {
		if !slices.Contains(body.Failing, g) {
			t.Errorf("/readyz with every JoinGroup held: failing %q, want it to name %s", body.Failing, g)
		}
	}
	if body.Checks["redis"] != "ok" || body.Checks["registry"] != "ok" {
		t.Errorf("/readyz checks %v: want redis and registry ok", body.Checks)
	}

	hold.Store(false)
	body = pollReadyz(t, srv, "ready", func(code int, _ readyBody) bool { return code == http.StatusOK })
	if body.Status != "ready" || len(body.Failing) != 0 || len(body.Checks) != len(groups)+2 {
		t.Errorf("/readyz 200 with body %+v", body)
	}
	for name, v := range body.Checks {
		if v != "ok" {
			t.Errorf("check %s: %q, want ok", name, v)
		}
	}

	env.Redis.Close()
	start := time.Now()
	body = pollReadyz(t, srv, "503 naming redis", func(code int, b readyBody) bool {
		return code == http.StatusServiceUnavailable && slices.Equal(b.Failing, []string{"redis"})
	})
	if took := time.Since(start); took > 5*service.CheckTimeout {
		t.Errorf("/readyz took %v to report Redis gone; checks are bounded by %v", took, service.CheckTimeout)
	}
	t.Logf("redis gone: %s", body.Checks["redis"])
}
