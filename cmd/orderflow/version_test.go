package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// stampVersion sets the link-time version for one test, as -ldflags "-X main.version=..." does.
func stampVersion(t *testing.T, v string) {
	old := version
	version = v
	t.Cleanup(func() { version = old })
}

func TestVersionFlag(t *testing.T) {
	stampVersion(t, "v1.2.3-test")
	var out, errOut bytes.Buffer
	if code := orderflow(context.Background(), []string{"--version"}, &out, &errOut); code != 0 {
		t.Fatalf("orderflow --version: exit code %d, stderr %s", code, errOut.String())
	}
	if got, want := out.String(), "orderflow v1.2.3-test\n"; got != want {
		t.Fatalf("orderflow --version printed %q, want %q", got, want)
	}
}

// TestBuildInfoCarriesStampedVersion runs the roles with the metrics server on and checks that
// orderflow_build_info names the stamped version, that `orderflow probe` passes once /readyz is
// ready, and that it fails once the process stopped.
func TestBuildInfoCarriesStampedVersion(t *testing.T) {
	defaultLog := slog.Default()
	t.Cleanup(func() { slog.SetDefault(defaultLog) })
	stampVersion(t, "v9.8.7-stamped")
	unsetEnv(t, "ORDERFLOW_BROKERS", "ORDERFLOW_REGISTRY", "ORDERFLOW_REDIS", "ORDERFLOW_RYE_URL", "ORDERFLOW_DR_URL",
		"ORDERFLOW_ROLES", "ORDERFLOW_TOPIC_PREFIX", "ORDERFLOW_LOG_FORMAT", "ORDERFLOW_LOG_LEVEL")
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- orderflow(ctx, []string{"run", "--demo=false", "--metrics-addr", addr}, io.Discard, io.Discard)
	}()

	want := fmt.Sprintf(`orderflow_build_info{goversion=%q,version="v9.8.7-stamped"} 1`, runtime.Version())
	var last string
	for deadline := time.Now().Add(60 * time.Second); ; {
		last = scrape(t, "http://"+addr+"/metrics")
		if strings.Contains(last, want) {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("orderflow run exited with %d before serving the build info", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never had %s; its build info lines:\n%s", want, grepLines(last, "orderflow_build_info"))
		}
		time.Sleep(50 * time.Millisecond) // a polling interval, not a wait for an event
	}

	// The compose health check: `orderflow probe` with the address from ORDERFLOW_METRICS_ADDR.
	t.Setenv("ORDERFLOW_METRICS_ADDR", addr)
	probe := func() (int, string) {
		var out, errOut bytes.Buffer
		code := orderflow(context.Background(), []string{"probe"}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		code, out := probe()
		if code == 0 {
			if !strings.Contains(out, `"status":"ready"`) {
				t.Fatalf("probe passed with %q, want the ready body", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe never passed: exit code %d, %s", code, out)
		}
		time.Sleep(50 * time.Millisecond) // a polling interval
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("orderflow run: exit code %d after the interrupt, want 0", code)
		}
	case <-time.After(time.Minute):
		t.Fatal("orderflow run did not stop within a minute of the interrupt")
	}
	if code, out := probe(); code != 1 || !strings.Contains(out, "probing http://"+addr+"/readyz") {
		t.Fatalf("probe after the stop: exit code %d (%s), want 1 naming the URL", code, out)
	}
}

// freeAddr is a loopback address with a port nothing listened on a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape GETs url and returns the body, or "" while nothing answers.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return string(b)
}

func grepLines(s, substr string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// unsetEnv clears variables the command reads, for the test (an operator's shell may set them).
func unsetEnv(t *testing.T, keys ...string) {
	for _, k := range keys {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}
