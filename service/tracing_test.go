package service_test

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/tracecontext"
)

// otlpReceiver is an in-process OTLP/HTTP collector: it decodes every ExportTraceServiceRequest
// posted to /v1/traces and keeps the spans with their resource's attributes.
type otlpReceiver struct {
	*httptest.Server
	mu        sync.Mutex
	spans     []*tracepb.Span
	resources []map[string]string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s), want POST /v1/traces as protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		b, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(b, &req)
		}
		if err != nil {
			t.Errorf("OTLP receiver: decoding the export request: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.ResourceSpans {
			rc.resources = append(rc.resources, attrs(rs.GetResource().GetAttributes()))
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// received returns the spans received so far.
func (rc *otlpReceiver) received() ([]*tracepb.Span, []map[string]string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*tracepb.Span(nil), rc.spans...), append([]map[string]string(nil), rc.resources...)
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.Key] = kv.GetValue().GetStringValue()
	}
	return out
}

// TestSpansContinueTheRequestTrace runs orderflow with tracing to an in-process OTLP/HTTP
// receiver. Requests carry a known W3C trace context: the publish spans of the status and
// tracking records of a placed order, and of the failure and dead letter of a declined one, are
// in the request's trace, as are the roles' process spans; the records themselves carry one
// traceparent of that trace (kotel's, naming the publish span) and the request's tracestate, so
// consumer.Propagate and kotel agree on the header. The resource names the service.
func TestSpansContinueTheRequestTrace(t *testing.T) {
	for _, env := range []string{tracing.EnvEndpoint, tracing.EnvTracesEndpoint, tracing.EnvSDKDisabled} {
		t.Setenv(env, "")
	}
	rc := newOTLPReceiver(t)
	tr, err := tracing.New(context.Background(), tracing.Config{Endpoint: rc.URL, Roles: service.AllRoles, Version: "v-test"})
	if err != nil || tr == nil {
		t.Fatalf("tracing.New with an endpoint: %v, %v", tr, err)
	}
	s := startStack(t, func(set *stackSetup) { set.svc.Tracing = tr })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Errorf("flushing spans at shutdown: %v", err)
		}
	})

	type traced struct {
		sc                          demo.Scenario
		traceID, parent, tracestate string
	}
	orders := map[string]traced{}
	for i, sc := range []demo.Scenario{demo.Placed, demo.PaymentDeclined} {
		id := fmt.Sprintf("otel-%02d-%s", i, sc.Name)
		o := traced{sc: sc, traceID: fmt.Sprintf("%032x", 0xa11ce0+i), parent: fmt.Sprintf("%016x", 0xb0b0+i), tracestate: fmt.Sprintf("upstream=t%d", i)}
		orders[id] = o
		ctx := tracecontext.With(context.Background(), &kgo.Record{Headers: []kgo.RecordHeader{
			{Key: "traceparent", Value: []byte(fmt.Sprintf("00-%s-%s-01", o.traceID, o.parent))},
			{Key: "tracestate", Value: []byte(o.tracestate)}}})
		req := sc.Build(id, 800+i)
		s.tally.Expect(req)
		if err := s.svc.Producer().RequestOrder(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	s.waitFinished(t, len(orders), 60*time.Second)

	// The records: one traceparent each, of the request's trace, and the request's tracestate.
	ds := &dlqStack{s}
	for _, topic := range []string{s.topo.Status(), s.topo.Tracking(), s.topo.Failures(), s.topo.DLQ()} {
		for _, r := range ds.records(t, topic) {
			o, ok := orders[string(r.Key)]
			if !ok {
				continue
			}
			var parents, states []string
			for _, h := range r.Headers {
				switch h.Key {
				case "traceparent":
					parents = append(parents, string(h.Value))
				case "tracestate":
					states = append(states, string(h.Value))
				}
			}
			if len(parents) != 1 || !strings.HasPrefix(parents[0], "00-"+o.traceID+"-") || len(states) != 1 || states[0] != o.tracestate {
				t.Errorf("%s record of %s: traceparent %q, tracestate %q; want one of trace %s and %q", topic, r.Key, parents, states, o.traceID, o.tracestate)
			}
		}
	}

	// The spans: publish spans of the records each scenario produces, and process spans.
	want := map[string][]string{} // order -> span names needed in its trace
	for id, o := range orders {
		names := []string{s.topo.Requests() + " publish", s.topo.Requests() + " receive", s.topo.Requests() + " process",
			s.topo.Status() + " publish"}
		switch o.sc.Name {
		case demo.Placed.Name:
			names = append(names, s.topo.Tracking()+" publish", s.topo.Tracking()+" process")
		case demo.PaymentDeclined.Name:
			names = append(names, s.topo.Failures()+" publish", s.topo.Failures()+" process", s.topo.DLQ()+" publish")
		}
		want[id] = names
	}
	provider := tr.TracerProvider().(*sdktrace.TracerProvider)
	var missing []string
	var spans []*tracepb.Span
	var resources []map[string]string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := provider.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		spans, resources = rc.received()
		have := map[string]map[string]bool{} // trace id -> span names
		for _, sp := range spans {
			id := hex.EncodeToString(sp.TraceId)
			if have[id] == nil {
				have[id] = map[string]bool{}
			}
			have[id][sp.Name] = true
		}
		missing = missing[:0]
		for id, names := range want {
			for _, n := range names {
				if !have[orders[id].traceID][n] {
					missing = append(missing, id+": "+n)
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("spans missing from the requests' traces (%d spans received): %v", len(spans), missing)
	}
	// Every publish span of an order's record is in its request's trace: the request's own is
	// the child of the upstream span its traceparent named, every other one the child of the
	// process span of the record whose handling produced it.
	process := map[string]bool{}
	for _, sp := range spans {
		if strings.HasSuffix(sp.Name, " process") {
			process[hex.EncodeToString(sp.SpanId)] = true
		}
	}
	for _, sp := range spans {
		a := attrs(sp.Attributes)
		key := a["messaging.kafka.message.key"]
		o, ok := orders[key]
		if !ok || !strings.HasSuffix(sp.Name, " publish") {
			continue
		}
		if hex.EncodeToString(sp.TraceId) != o.traceID {
			t.Errorf("span %q of order %s is in trace %x, want the request's %s", sp.Name, key, sp.TraceId, o.traceID)
		}
		parent := hex.EncodeToString(sp.ParentSpanId)
		switch {
		case sp.Name == s.topo.Requests()+" publish":
			if parent != o.parent {
				t.Errorf("span %q of order %s: parent %s, want the upstream span of its traceparent", sp.Name, key, parent)
			}
		case !process[parent]:
			t.Errorf("span %q of order %s: parent %s is no process span", sp.Name, key, parent)
		}
	}
	if len(resources) == 0 || resources[0]["service.name"] != "orderflow" || resources[0]["service.version"] != "v-test" ||
		resources[0]["orderflow.roles"] != "worker,tracker,reconciler" {
		t.Errorf("resources %v: want service.name orderflow, service.version v-test, orderflow.roles of every role", resources)
	}
}
