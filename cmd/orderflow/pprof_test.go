package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alexflint/go-arg"
	"github.com/prometheus/client_golang/prometheus"
)

// TestPprofFlag: the profiles are off unless --pprof is given, and then served on the metrics
// server beside /metrics; --pprof without --metrics-addr is refused.
func TestPprofFlag(t *testing.T) {
	parse := func(argv ...string) *runCmd {
		t.Helper()
		var a args
		p, err := arg.NewParser(arg.Config{Program: "orderflow"}, &a)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Parse(argv); err != nil {
			t.Fatalf("parsing %q: %v", argv, err)
		}
		return a.Run
	}
	get := func(t *testing.T, srv *httptest.Server, path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	serve := func(c *runCmd) *httptest.Server {
		srv := httptest.NewServer(metricsMux(prometheus.NewRegistry(), &health{log: slog.New(slog.DiscardHandler)}, c.Pprof))
		t.Cleanup(srv.Close)
		return srv
	}

	t.Run("off by default", func(t *testing.T) {
		c := parse("run", "--metrics-addr", "127.0.0.1:0")
		if c.Pprof {
			t.Fatal("Pprof is on without --pprof")
		}
		srv := serve(c)
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
			if code, _ := get(t, srv, path); code != http.StatusNotFound {
				t.Errorf("GET %s without --pprof: %d, want 404", path, code)
			}
		}
		if code, _ := get(t, srv, "/healthz"); code != http.StatusOK {
			t.Errorf("GET /healthz: %d, want 200", code)
		}
	})
	t.Run("on with --pprof", func(t *testing.T) {
		c := parse("run", "--metrics-addr", "127.0.0.1:0", "--pprof")
		if !c.Pprof {
			t.Fatal("Pprof is off with --pprof")
		}
		srv := serve(c)
		if code, body := get(t, srv, "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("GET /debug/pprof/: %d, want 200 listing the goroutine profile; body %.200q", code, body)
		}
		if code, body := get(t, srv, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile:") {
			t.Errorf("GET /debug/pprof/goroutine: %d, want 200 with a goroutine profile; body %.200q", code, body)
		}
		if code, _ := get(t, srv, "/metrics"); code != http.StatusOK {
			t.Errorf("GET /metrics with --pprof: %d, want 200", code)
		}
	})
	t.Run("needs --metrics-addr", func(t *testing.T) {
		c := parse("run", "--pprof")
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), "--pprof") {
			t.Errorf("validate of --pprof without --metrics-addr: %v, want an error naming --pprof", err)
		}
	})
}
