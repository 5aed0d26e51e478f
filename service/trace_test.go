package service_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/tracecontext"
)

// TestTraceContextOnEveryRecord sends requests carrying a W3C trace context through scenarios
// that produce status, tracking (polled several times), failures, retry-tier and replacement
// requests (both through the delay tiers) and dead letters: every record of an order carries its request's traceparent and
// tracestate, and the dead letter's TraceContext holds the same. An order sent without one
// gets none.
func TestTraceContextOnEveryRecord(t *testing.T) {
	s := startStack(t)
	type traced struct {
		sc                      demo.Scenario
		traceparent, tracestate string
	}
	orders := map[string]traced{}
	for i, sc := range []demo.Scenario{demo.PaymentDeclined, demo.OutOfStockOnce, demo.AlwaysUnavailable, demo.Placed} {
		id := fmt.Sprintf("trace-%02d-%s", i, sc.Name)
		o := traced{sc: sc}
		ctx := context.Background()
		if sc.Name != demo.Placed.Name { // the control: no trace context in, none out
			o.traceparent = fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)
			o.tracestate = fmt.Sprintf("orderflow=t%d", i)
			ctx = tracecontext.With(ctx, &kgo.Record{Headers: []kgo.RecordHeader{
				{Key: "traceparent", Value: []byte(o.traceparent)}, {Key: "tracestate", Value: []byte(o.tracestate)}}})
		}
		orders[id] = o
		req := sc.Build(id, 900+i)
		s.tally.Expect(req)
		if err := s.svc.Producer().RequestOrder(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFinished(t, len(orders), 90*time.Second)

	topics := append([]string{s.topo.Requests(), s.topo.Status(), s.topo.Failures(), s.topo.Tracking(), s.topo.DLQ()}, s.topo.RetryTopics()...)
	counts := map[string]map[string]int{} // order -> topic -> records
	ds := &dlqStack{s}
	for _, topic := range topics {
		for _, r := range ds.records(t, topic) {
			id := string(r.Key)
			o, ok := orders[id]
			if !ok {
				continue
			}
			if counts[id] == nil {
				counts[id] = map[string]int{}
			}
			counts[id][topic]++
			got := map[string][]string{}
			for _, h := range r.Headers {
				got[h.Key] = append(got[h.Key], string(h.Value))
			}
			want := map[string]string{"traceparent": o.traceparent, "tracestate": o.tracestate}
			for k, v := range want {
				switch {
				case v == "" && len(got[k]) > 0:
					t.Errorf("%s: %s record at offset %d carries %s %q, sent without one", id, topic, r.Offset, k, got[k])
				case v != "" && (len(got[k]) != 1 || got[k][0] != v):
					t.Errorf("%s: %s record at offset %d carries %s %q, want exactly %q", id, topic, r.Offset, k, got[k], v)
				}
			}
			if topic == s.topo.DLQ() {
				dl, err := s.svc.Producer().Codec().DecodeDeadLetter(context.Background(), r.Value)
				if err != nil {
					t.Fatal(err)
				}
				if dl.TraceContext["traceparent"] != o.traceparent || dl.TraceContext["tracestate"] != o.tracestate {
					t.Errorf("%s: dead letter's TraceContext %v, want the request's %q / %q", id, dl.TraceContext, o.traceparent, o.tracestate)
				}
			}
		}
	}
	// The scenarios did produce what the test claims to cover.
	for id, o := range orders {
		c := counts[id]
		need := map[string]bool{s.topo.Requests(): true, s.topo.Status(): true}
		switch o.sc.Name {
		case demo.PaymentDeclined.Name:
			need[s.topo.Failures()], need[s.topo.DLQ()] = true, true
		case demo.AlwaysUnavailable.Name:
			need[s.topo.Failures()], need[s.topo.DLQ()], need[s.topo.Retry(0)] = true, true, true
		case demo.OutOfStockOnce.Name:
			// The replacement request (attempt 2) goes through the first delay tier.
			need[s.topo.Failures()], need[s.topo.Tracking()], need[s.topo.Retry(0)] = true, true, true
			if c[s.topo.Tracking()] < 3 {
				t.Errorf("%s: %d tracking records, want the tracker's re-produced polls too", id, c[s.topo.Tracking()])
			}
		}
		for topic := range need {
			if c[topic] == 0 {
				t.Errorf("%s: no record in %s (records: %v)", id, topic, c)
			}
		}
	}
}
