package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// lockedBuffer is a log sink safe for the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// poison panics the way a defect does: an index out of range on a record it did not expect.
func poison(r *kgo.Record) {
	var fields []string
	if string(r.Value) == "poison" {
		_ = fields[len(r.Value)]
	}
}

// TestRecoverPanicDeadLetters: a record whose handler panics is dead-lettered with the panic as
// its reason (no stack in it), the stack goes to the log, every other record (its key's later
// ones included) is handled, and the partition commits past it. Without Recover the panic
// would kill the test binary.
func TestRecoverPanicDeadLetters(t *testing.T) {
	c := newCluster(t)
	topic, group := c.topic(t, 1), c.group(t)
	var recs []*kgo.Record
	for i, v := range []string{"a", "b", "poison", "c", "d"} {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%2), Value: []byte(v)})
	}
	c.produce(t, recs...)
	poisonOffset := recs[2].Offset

	var mu sync.Mutex
	reasons := map[int64]error{}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	cfg := testConfig(c, group, topic)
	cfg.DeadLetter = func(_ context.Context, r *kgo.Record, reason error) error {
		mu.Lock()
		defer mu.Unlock()
		reasons[r.Offset] = reason
		return nil
	}
	l := newLedger()
	h := Chain(l.handler("m", func(_ context.Context, r *kgo.Record) error {
		poison(r)
		return nil
	}), Recover(log))
	m := start(t, "m", cfg, h)
	waitFor(t, 30*time.Second, "the partition committed to its end", func() bool { return c.committed(t, group, topic)[0] == 5 })
	m.shutdown(t)

	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != 1 || reasons[poisonOffset] == nil {
		t.Fatalf("dead-lettered offsets %v, want only the poison record's %d", keys(reasons), poisonOffset)
	}
	reason := reasons[poisonOffset]
	if !errors.Is(reason, ErrPanic) || !IsPermanent(reason) || !strings.Contains(reason.Error(), "index out of range") {
		t.Errorf("reason %q: want a permanent ErrPanic quoting the panic value", reason)
	}
	if strings.Contains(reason.Error(), "goroutine") || strings.Contains(reason.Error(), ".go:") {
		t.Errorf("reason %q carries a stack; it belongs in the logs", reason)
	}
	var handled []string
	for _, h := range l.snapshot() {
		handled = append(handled, h.value)
	}
	slices.Sort(handled)
	if !slices.Equal(handled, []string{"a", "b", "c", "d"}) {
		t.Errorf("handled %v, want every record but the poison one", handled)
	}
	out := logs.String()
	if !strings.Contains(out, "handler panicked") || !strings.Contains(out, "consumer.poison") || !strings.Contains(out, fmt.Sprintf("offset=%d", poisonOffset)) {
		t.Errorf("log %q: want the panic with its stack (consumer.poison) and the record's offset", out)
	}
}

// Chain(h, a, b) runs a outermost: a sees the record first and the result last.
func TestChainOrder(t *testing.T) {
	var calls []string
	mw := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, r *kgo.Record) error {
				calls = append(calls, name+" in")
				err := next.Handle(ctx, r)
				calls = append(calls, name+" out")
				return err
			})
		}
	}
	h := Chain(HandlerFunc(func(context.Context, *kgo.Record) error {
		calls = append(calls, "handler")
		return nil
	}), mw("a"), mw("b"))
	if err := h.Handle(context.Background(), &kgo.Record{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"a in", "b in", "handler", "b out", "a out"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
}

// A panic in a middleware placed after Recover is recovered too; the reason is bounded.
func TestRecoverLaterMiddlewareAndLongValue(t *testing.T) {
	long := strings.Repeat("é", 1000)
	h := Chain(HandlerFunc(func(context.Context, *kgo.Record) error { return nil }), Recover(nil), func(Handler) Handler {
		return HandlerFunc(func(context.Context, *kgo.Record) error { panic(long) })
	})
	err := h.Handle(context.Background(), &kgo.Record{})
	if !errors.Is(err, ErrPanic) || !IsPermanent(err) {
		t.Fatalf("err %v: want a permanent ErrPanic", err)
	}
	if n := len(err.Error()); n > maxPanicReason+64 || !strings.HasSuffix(err.Error(), "é…") {
		t.Fatalf("reason of %d bytes ending %q: want it cut near %d bytes on a rune boundary", n, err.Error()[len(err.Error())-8:], maxPanicReason)
	}
}
