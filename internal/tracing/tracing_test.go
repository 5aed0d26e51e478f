package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestOffWithoutEndpoint: with neither the flag nor the OTLP variables (or with the SDK
// disabled) New creates no exporter and returns nil, whose hooks and middleware add nothing.
func TestOffWithoutEndpoint(t *testing.T) {
	for name, cfg := range map[string]Config{
		"nothing set":  {Getenv: env(nil)},
		"sdk disabled": {Endpoint: "http://127.0.0.1:1", Getenv: env(map[string]string{EnvSDKDisabled: "true", EnvEndpoint: "http://127.0.0.1:1"})},
	} {
		t.Run(name, func(t *testing.T) {
			tr, err := New(context.Background(), cfg)
			if err != nil || tr != nil {
				t.Fatalf("New: %v, %v; want no tracing", tr, err)
			}
			if opts := tr.KafkaOpts("worker", "orders.worker"); opts != nil {
				t.Errorf("KafkaOpts of no tracing: %v, want none", opts)
			}
			called := false
			h := consumer.HandlerFunc(func(context.Context, *kgo.Record) error { called = true; return nil })
			if err := tr.Middleware("worker", "g")(h).Handle(context.Background(), &kgo.Record{}); err != nil || !called {
				t.Errorf("Middleware of no tracing: %v, handler called %v", err, called)
			}
			if tr.DeadLetter(nil) != nil || tr.Shutdown(context.Background()) != nil || tr.TracerProvider() != nil {
				t.Error("no tracing must wrap nothing and shut nothing down")
			}
		})
	}
}

// TestEndpointFromEnvironment: OTEL_EXPORTER_OTLP_ENDPOINT alone turns tracing on, and
// Shutdown flushes the batched spans to <endpoint>/v1/traces; --otlp-endpoint is read the same.
func TestEndpointFromEnvironment(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/base/v1/traces" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	for name, cfg := range map[string]Config{
		"env":  {Getenv: env(map[string]string{EnvEndpoint: srv.URL + "/base"})},
		"flag": {Endpoint: srv.URL + "/base/", Getenv: env(nil)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(EnvEndpoint, cfg.Getenv(EnvEndpoint)) // the exporter reads the process environment
			before := posts.Load()
			tr, err := New(context.Background(), cfg)
			if err != nil || tr == nil {
				t.Fatalf("New: %v, %v", tr, err)
			}
			_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "span")
			span.End()
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if posts.Load() == before {
				t.Fatal("Shutdown did not flush the span to the collector")
			}
		})
	}
}

func TestBadEndpoint(t *testing.T) {
	for _, e := range []string{"collector:4318", "ftp://collector", "http://"} {
		if _, err := New(context.Background(), Config{Endpoint: e, Getenv: env(nil)}); err == nil {
			t.Errorf("endpoint %q: no error", e)
		}
	}
}
