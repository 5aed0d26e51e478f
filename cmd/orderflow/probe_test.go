package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestProbe: 0 on a 2xx answer, 1 on any other answer or none, 2 without a URL; with no URL it
// GETs /readyz on --metrics-addr, an unspecified host meaning the loopback.
func TestProbe(t *testing.T) {
	unsetEnv(t, "ORDERFLOW_METRICS_ADDR")
	var lastPath atomic.Value
	status := atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastPath.Store(r.URL.Path)
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"status":"answer"}`))
	}))
	defer srv.Close()
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	dead := freeAddr(t)

	for _, tc := range []struct {
		name     string
		argv     []string
		status   int
		want     int
		output   string
		wantPath string
	}{
		{name: "ready", argv: []string{"probe", srv.URL + "/readyz"}, status: 200, want: 0, output: `200 OK: {"status":"answer"}`, wantPath: "/readyz"},
		{name: "not ready", argv: []string{"probe", srv.URL + "/readyz"}, status: 503, want: 1, output: "503 Service Unavailable"},
		{name: "redirect is no pass", argv: []string{"probe", srv.URL + "/x"}, status: 304, want: 1, output: "304"},
		{name: "nothing listens", argv: []string{"probe", "http://" + dead + "/readyz"}, want: 1, output: "probing http://" + dead},
		{name: "default URL from the metrics address", argv: []string{"probe", "--metrics-addr", "0.0.0.0:" + port}, status: 200, want: 0, wantPath: "/readyz"},
		{name: "empty host", argv: []string{"probe", "--metrics-addr", ":" + port}, status: 200, want: 0, wantPath: "/readyz"},
		{name: "no URL, no address", argv: []string{"probe"}, want: 2, output: "no URL"},
		{name: "bad address", argv: []string{"probe", "--metrics-addr", "nope"}, want: 2, output: "--metrics-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status.Store(int32(tc.status))
			lastPath.Store("")
			var out, errOut bytes.Buffer
			got := orderflow(context.Background(), tc.argv, &out, &errOut)
			all := out.String() + errOut.String()
			if got != tc.want || !strings.Contains(all, tc.output) {
				t.Fatalf("orderflow %s: exit code %d, want %d; output %q, want it to contain %q", strings.Join(tc.argv, " "), got, tc.want, all, tc.output)
			}
			if tc.wantPath != "" && lastPath.Load() != tc.wantPath {
				t.Fatalf("probe GET %q, want %q", lastPath.Load(), tc.wantPath)
			}
		})
	}
}
