// Package tracecontext carries a record's W3C trace context headers (traceparent, tracestate)
// from the record being handled, through a context, onto every record produced because of it.
// consumer.Propagate puts a handled record's headers on the handler's context (With);
// producer.Send copies them onto what it sends (From).
package tracecontext

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers are the names of the trace context headers.
var Headers = [...]string{"traceparent", "tracestate"}

type key struct{}

// With returns ctx carrying r's trace context headers (Of). A record without them leaves ctx
// as it is.
func With(ctx context.Context, r *kgo.Record) context.Context {
	hs := Of(r)
	if len(hs) == 0 {
		return ctx
	}
	return context.WithValue(ctx, key{}, hs)
}

// Of returns r's trace context headers, nil when it has none.
func Of(r *kgo.Record) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for _, h := range r.Headers {
		if slices.Contains(Headers[:], h.Key) {
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	return hs
}

// From returns the trace context headers ctx carries (With), nil when none.
func From(ctx context.Context) []kgo.RecordHeader {
	hs, _ := ctx.Value(key{}).([]kgo.RecordHeader)
	return hs
}
