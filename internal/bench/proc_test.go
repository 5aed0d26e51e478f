package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' in it; utime 250 and stime 50 ticks = 3 s.
	line := "4242 (orderflow (x) y) S 1 4242 4242 0 -1 4194560 12000 0 0 0 250 50 0 0 20 0 9 0 100 2000000 3000 18446744073709551615\n"
	got, err := parseStatCPU(line)
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v, want 3s", got, err)
	}
	if _, err := parseStatCPU("4242 (short) S 1 2"); err == nil {
		t.Error("a short stat line parsed")
	}
	// The live process: its own CPU time is positive and readable.
	if cpu, err := ProcCPU(os.Getpid()); err != nil || cpu < 0 {
		t.Errorf("ProcCPU(self) = %v, %v", cpu, err)
	}
}

func TestParseMachineCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	busy, steal, err := parseMachineCPU("cpu  1000 20 300 5000 70 4 6 90 0 0")
	if err != nil {
		t.Fatal(err)
	}
	if want := 13300 * time.Millisecond; busy != want { // (1000+20+300+4+6) ticks of 10 ms
		t.Errorf("busy = %v, want %v", busy, want)
	}
	if want := 900 * time.Millisecond; steal != want {
		t.Errorf("steal = %v, want %v", steal, want)
	}
	if _, _, err := parseMachineCPU("cpu0 1 2 3"); err == nil {
		t.Error("a short per-core line parsed")
	}
}

func TestParseHWM(t *testing.T) {
	got, err := parseHWM(strings.NewReader("Name:\torderflow\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n"))
	if err != nil || got != 51200*1024 {
		t.Errorf("parseHWM = %d, %v, want %d", got, err, 51200*1024)
	}
	if _, err := parseHWM(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("a status without VmHWM parsed")
	}
}

func TestMetricsSum(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(`# TYPE orderflow_provider_calls_total counter
orderflow_provider_calls_total{class="ok",operation="create_cart",provider="rye"} 10
orderflow_provider_calls_total{class="ok",operation="submit",provider="rye"} 10
orderflow_provider_calls_total{class="rate-limited",operation="submit",provider="rye"} 2
orderflow_provider_calls_total{class="ok",operation="status",provider="rye"} 31
# TYPE orderflow_redis_round_trips_total counter
orderflow_redis_round_trips_total 97
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("orderflow_provider_calls_total"); got != 53 {
		t.Errorf("sum of all calls = %v, want 53", got)
	}
	if got := m.Sum("orderflow_provider_calls_total", "operation", "submit"); got != 12 {
		t.Errorf("submit calls = %v, want 12", got)
	}
	if got := m.Sum("orderflow_provider_calls_total", "operation", "submit", "class", "ok"); got != 10 {
		t.Errorf("ok submit calls = %v, want 10", got)
	}
	if got := m.Sum("orderflow_redis_round_trips_total"); got != 97 {
		t.Errorf("round trips = %v, want 97", got)
	}
	if got := m.Sum("missing_total"); got != 0 {
		t.Errorf("a missing family sums to %v", got)
	}
	if got := m.By("orderflow_provider_calls_total", "operation"); got["status"] != 31 || got["submit"] != 12 || got["create_cart"] != 10 {
		t.Errorf("By operation = %v", got)
	}
	other, err := ParseMetrics(strings.NewReader("# TYPE orderflow_redis_round_trips_total counter\norderflow_redis_round_trips_total 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	both := Merge(m, other)
	if got := both.Sum("orderflow_redis_round_trips_total"); got != 100 {
		t.Errorf("merged round trips = %v, want 97 + 3", got)
	}
	if got := both.Sum("orderflow_provider_calls_total", "operation", "submit"); got != 12 {
		t.Errorf("merged submit calls = %v, want 12 (one scrape has none)", got)
	}
}

func TestMetricsHistogram(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(`# TYPE orderflow_tracker_polls histogram
orderflow_tracker_polls_bucket{le="1"} 3
orderflow_tracker_polls_bucket{le="2"} 4
orderflow_tracker_polls_bucket{le="+Inf"} 4
orderflow_tracker_polls_sum 5
orderflow_tracker_polls_count 4
`))
	if err != nil {
		t.Fatal(err)
	}
	if n, sum := m.Histogram("orderflow_tracker_polls"); n != 4 || sum != 5 {
		t.Errorf("histogram = %d, %v; want 4, 5", n, sum)
	}
	if n, sum := m.Histogram("missing"); n != 0 || sum != 0 {
		t.Errorf("a missing histogram = %d, %v", n, sum)
	}
	m, err = ParseMetrics(strings.NewReader(`# TYPE orderflow_consumer_wait_seconds histogram
orderflow_consumer_wait_seconds_bucket{role="worker",le="+Inf"} 2
orderflow_consumer_wait_seconds_sum{role="worker"} 0.5
orderflow_consumer_wait_seconds_count{role="worker"} 2
orderflow_consumer_wait_seconds_bucket{role="tracker",le="+Inf"} 3
orderflow_consumer_wait_seconds_sum{role="tracker"} 1.5
orderflow_consumer_wait_seconds_count{role="tracker"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if n, sum := m.Histogram("orderflow_consumer_wait_seconds", "role", "tracker"); n != 3 || sum != 1.5 {
		t.Errorf("the tracker's series = %d, %v; want 3, 1.5", n, sum)
	}
	if n, sum := m.Histogram("orderflow_consumer_wait_seconds"); n != 5 || sum != 2 {
		t.Errorf("every series = %d, %v; want 5, 2", n, sum)
	}
}
