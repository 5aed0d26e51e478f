package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/tracecontext"
)

// Middleware wraps a Handler with cross-cutting behaviour (panic recovery, logging, metrics).
// The engine applies none by itself: whoever builds a role's handler composes them with Chain
// and documents the order there.
type Middleware func(Handler) Handler

// Chain returns h wrapped by mw, the first outermost: Chain(h, a, b) handles a record as
// a(b(h)), so a sees every record first and every result last. Recover belongs first, so that
// a panic in any later middleware is caught as well.
func Chain(h Handler, mw ...Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// ErrPanic is wrapped by the error Recover returns for a handler that panicked.
var ErrPanic = errors.New("handler panicked")

// maxPanicReason bounds the panic value quoted in the error (and so in a dead letter).
const maxPanicReason = 512

// Recover turns a panic of the wrapped handler into a Permanent error wrapping ErrPanic, whose
// text is the panic value (at most 512 bytes). The record then takes the dead-letter path and
// its partition moves on, instead of the panic killing the process, every role running in it,
// and, after the redelivery, the restarted process again. The stack goes to log (level Error,
// with the record's topic, partition and offset), never into the error: a dead letter says what
// went wrong, the logs say where. A nil log discards.
//
// A record is dead-lettered after its first panic, not retried: a panic is a defect, and the
// same record would panic again. Whatever the handler did before it panicked stays done; the
// handler's own idempotency (a redelivery or a replay finds the state it left) covers that.
func Recover(log *slog.Logger) Middleware {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, r *kgo.Record) (err error) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				log.Error("handler panicked: dead-lettering the record", "topic", r.Topic, "partition", r.Partition,
					"offset", r.Offset, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = Permanent(fmt.Errorf("%w: %s", ErrPanic, truncate(fmt.Sprint(v), maxPanicReason)))
			}()
			return next.Handle(ctx, r)
		})
	}
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Propagate is the middleware that hands the handler a context carrying the record's trace
// context (tracecontext.With), so that every record the handler produces carries the same
// headers.
func Propagate() Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, r *kgo.Record) error {
			return next.Handle(tracecontext.With(ctx, r), r)
		})
	}
}
