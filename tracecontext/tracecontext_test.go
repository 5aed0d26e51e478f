package tracecontext_test

import (
	"context"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/tracecontext"
)

func TestWithFrom(t *testing.T) {
	tp := kgo.RecordHeader{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}
	ts := kgo.RecordHeader{Key: "tracestate", Value: []byte("vendor=a")}
	other := kgo.RecordHeader{Key: "orderflow-due-ms", Value: []byte("1")}
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		want    []kgo.RecordHeader
	}{
		{"none", []kgo.RecordHeader{other}, nil},
		{"both, others dropped", []kgo.RecordHeader{other, tp, ts}, []kgo.RecordHeader{tp, ts}},
		{"traceparent only", []kgo.RecordHeader{tp}, []kgo.RecordHeader{tp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eq := func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }
			r := &kgo.Record{Headers: tc.headers}
			if got := tracecontext.Of(r); !slices.EqualFunc(got, tc.want, eq) {
				t.Errorf("Of = %v, want %v", got, tc.want)
			}
			ctx := context.Background()
			got := tracecontext.From(tracecontext.With(ctx, r))
			if !slices.EqualFunc(got, tc.want, eq) {
				t.Errorf("From(With) = %v, want %v", got, tc.want)
			}
			if tc.want == nil && tracecontext.With(ctx, r) != ctx {
				t.Error("With changed the context of a record without trace context")
			}
		})
	}
}
