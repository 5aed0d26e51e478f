package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/tracing"
)

// TestRunSendsSpansToTheOTLPEndpoint runs the embedded demo with --otlp-endpoint (and with
// ORDERFLOW_OTLP_ENDPOINT): spans reach the collector's /v1/traces, the last of them flushed
// when run returns. A URL that can never work is a configuration error.
func TestRunSendsSpansToTheOTLPEndpoint(t *testing.T) {
	for _, v := range []string{tracing.EnvEndpoint, tracing.EnvTracesEndpoint, tracing.EnvSDKDisabled, "ORDERFLOW_OTLP_ENDPOINT"} {
		t.Setenv(v, "")
	}
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()

	for name, setup := range map[string]func() []string{
		"flag": func() []string { return []string{"--otlp-endpoint", srv.URL} },
		"env":  func() []string { t.Setenv("ORDERFLOW_OTLP_ENDPOINT", srv.URL); return nil },
	} {
		t.Run(name, func(t *testing.T) {
			before := posts.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			argv := append([]string{"run", "--skeleton", "--orders", "3"}, setup()...)
			if code := orderflow(ctx, argv, &out, &errOut); code != 0 {
				t.Fatalf("orderflow %s: exit %d\n%s", strings.Join(argv, " "), code, errOut.String())
			}
			if posts.Load() == before {
				t.Fatal("no spans reached the collector")
			}
		})
	}

	var errOut bytes.Buffer
	if code := orderflow(context.Background(), []string{"run", "--otlp-endpoint", "collector:4318"}, &bytes.Buffer{}, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "--otlp-endpoint") {
		t.Fatalf("bad endpoint: exit %d, stderr %q; want 2 naming --otlp-endpoint", code, errOut.String())
	}
}
