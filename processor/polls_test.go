package processor

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/provider"
)

// TestPollWait: the first poll FirstPoll after a submit, then waits doubling up to
// PollInterval, each within ±20%, in whole milliseconds; FirstPoll defaults to 1s and never
// exceeds PollInterval.
func TestPollWait(t *testing.T) {
	s := Settings{FirstPoll: 250 * time.Millisecond, PollInterval: 2 * time.Second}
	s.setDefaults()
	for polls, want := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second} {
		for range 50 {
			got := s.pollWait(polls)
			if got < want*8/10 || got > want*12/10 || got%time.Millisecond != 0 {
				t.Fatalf("pollWait(%d) = %v: want %v ±20%%, whole milliseconds", polls, got, want)
			}
		}
	}
	d := Settings{}
	d.setDefaults()
	if d.FirstPoll != time.Second {
		t.Fatalf("default FirstPoll %v, want 1s", d.FirstPoll)
	}
	c := Settings{FirstPoll: time.Minute, PollInterval: time.Second}
	c.setDefaults()
	if c.FirstPoll != time.Second {
		t.Fatalf("FirstPoll %v over PollInterval 1s: want 1s", c.FirstPoll)
	}
}

// TestTrackerPollsCounted: an order placed at its third poll is tracked once, with 3 polls,
// the first FirstPoll after the submit.
func TestTrackerPollsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var polledAt []time.Duration
	h := newHarness(t, func(elapsed time.Duration) (provider.Placement, error) {
		polledAt = append(polledAt, elapsed)
		if len(polledAt) < 3 {
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: started()}), nil
		}
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: placedEvents()}), nil
	}, func(c *Config) { c.Metrics, c.FirstPoll, c.PollInterval = m, 100*time.Millisecond, time.Second })
	h.run(testRequest("o-polls"), time.Minute)
	if got := h.states(); got[len(got)-1] != "1//placed" {
		t.Fatalf("states %v: want placed", got)
	}
	if polledAt[0] < 80*time.Millisecond || polledAt[0] > 120*time.Millisecond {
		t.Fatalf("first poll %v after the submit, want FirstPoll 100ms ±20%%", polledAt[0])
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "orderflow_tracker_polls" {
			continue
		}
		found = true
		hg := mf.GetMetric()[0].GetHistogram()
		if hg.GetSampleCount() != 1 || hg.GetSampleSum() != 3 {
			t.Fatalf("orderflow_tracker_polls count %d sum %v, want 1 attempt with 3 polls", hg.GetSampleCount(), hg.GetSampleSum())
		}
	}
	if !found {
		t.Fatal("orderflow_tracker_polls not registered")
	}
}
