package consumer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TraceHeaders are the W3C trace context headers (traceparent, tracestate) a record passes on to
// every record produced because of it.
var TraceHeaders = [...]string{"traceparent", "tracestate"}

type traceKey struct{}

// WithTrace returns ctx carrying r's trace context headers (TraceHeaders), for the producer to
// copy onto every record sent under ctx (producer.Send). A record without them leaves ctx as it is.
func WithTrace(ctx context.Context, r *kgo.Record) context.Context {
	hs := TraceOf(r)
	if len(hs) == 0 {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, hs)
}

// TraceOf returns r's trace context headers (TraceHeaders), nil when it has none.
func TraceOf(r *kgo.Record) []kgo.RecordHeader {
	var hs []kgo.RecordHeader
	for _, h := range r.Headers {
		if isTraceHeader(h.Key) {
			hs = append(hs, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	return hs
}

// Trace returns the trace context headers ctx carries (WithTrace), nil when none.
func Trace(ctx context.Context) []kgo.RecordHeader {
	hs, _ := ctx.Value(traceKey{}).([]kgo.RecordHeader)
	return hs
}

// Propagate is the middleware that hands the handler a context carrying the record's trace
// context (WithTrace), so that every record the handler produces carries the same headers.
func Propagate() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, r *kgo.Record) error {
			return next.Handle(WithTrace(ctx, r), r)
		})
	}
}

func isTraceHeader(k string) bool {
	for _, t := range TraceHeaders {
		if k == t {
			return true
		}
	}
	return false
}
