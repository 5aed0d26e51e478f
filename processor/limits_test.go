package processor

import (
	"bytes"
	"context"
	"errors"

	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

func TestLimitsCheck(t *testing.T) {
	item := func(qty int, price int64) schemas.Item {
		return schemas.Item{Merchant: "amazon", ProductID: "B0TEST", Quantity: qty, PriceCents: price}
	}
	many := func(n int) []schemas.Item { return slices.Repeat([]schemas.Item{item(1, 100)}, n) }
	for _, tc := range []struct {
		name   string
		limits Limits
		items  []schemas.Item
		size   int
		limit  string // "" = within the limits, "-" = refused without a LimitError
	}{
		{"within the defaults", Limits{}, []schemas.Item{item(2, 1999), item(1, 4999)}, 1 << 10, ""},
		{"quantity 2,147,483,647", Limits{}, []schemas.Item{item(math.MaxInt32, 1999)}, 1 << 10, "quantity"},
		{"10,000 items", Limits{}, many(10_000), 1 << 10, "items"},
		{"a 600 KB request", Limits{}, many(1), 600 << 10, "request-bytes"},
		{"a 5 MB request", Limits{}, many(1), 5 << 20, "request-bytes"},
		{"line amount", Limits{}, []schemas.Item{item(1000, 5001)}, 1 << 10, "line-amount"},
		{"price × quantity overflows", Limits{MaxQuantity: math.MaxInt32}, []schemas.Item{item(math.MaxInt32, math.MaxInt64/2)}, 1 << 10, "line-amount"},
		{"order amount", Limits{}, []schemas.Item{item(1, 4_000_000), item(1, 4_000_000), item(1, 4_000_000)}, 1 << 10, "order-amount"},
		{"order amount near 2^63 does not overflow", Limits{MaxLineCents: math.MaxInt64, MaxOrderCents: math.MaxInt64 - 1},
			[]schemas.Item{item(1, math.MaxInt64-10), item(1, math.MaxInt64-10)}, 1 << 10, "order-amount"},
		{"negative price", Limits{}, []schemas.Item{item(1, -500)}, 1 << 10, "-"},
		{"raised limits", Limits{MaxItems: 20_000, MaxRequestBytes: 8 << 20, MaxOrderCents: 1 << 40}, many(10_000), 5 << 20, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limits.Check(schemas.OrderRequested{Items: tc.items}, tc.size)
			var le *LimitError
			switch {
			case tc.limit == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.limit == "-" && (err == nil || errors.As(err, &le)):
				t.Fatalf("err = %v, want a plain refusal", err)
			case tc.limit != "" && tc.limit != "-" && (!errors.As(err, &le) || le.Limit != tc.limit):
				t.Fatalf("err = %v, want limit %s", err, tc.limit)
			}
			if err != nil {
				t.Log(err)
			}
		})
	}
}

func TestConfigRefusesNegativeLimits(t *testing.T) {
	h := newHarness(t, nil, nil)
	cfg := *h.cfg
	cfg.Limits = Limits{MaxQuantity: -1}
	if err := cfg.Validate(); err == nil {
		t.Fatal("a negative limit was accepted")
	}
	if h.cfg.Limits != DefaultLimits {
		t.Fatalf("defaults %+v, want %+v", h.cfg.Limits, DefaultLimits)
	}
}

// TestRequestsOverLimitsCreateNothing: the cases are dead-lettered with action
// fix-input before anything is reserved or created at the provider.
func TestRequestsOverLimitsCreateNothing(t *testing.T) {
	big := func(n int) schemas.Item {
		return schemas.Item{Merchant: "amazon", ProductID: "B0BIG", Quantity: 1, PriceCents: 100, Name: strings.Repeat("x", n)}
	}
	for _, tc := range []struct {
		name  string
		items []schemas.Item
		limit string
	}{
		{"quantity 2,147,483,647", []schemas.Item{{Merchant: "amazon", ProductID: "B0TEST", Quantity: math.MaxInt32, PriceCents: 19_600}}, "quantity"},
		{"10,000 items", slices.Repeat([]schemas.Item{{Merchant: "amazon", ProductID: "B0TEST", Quantity: 1, PriceCents: 100}}, 10_000), "items"},
		{"600 KB request", []schemas.Item{big(600 << 10)}, "request-bytes"},
		{"5 MB request", []schemas.Item{big(5 << 20)}, "request-bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(time.Duration) (provider.Placement, error) { return one(provider.OrderPlacement{}), nil }, nil)
			req := testRequest("over-1", tc.items...)
			h.run(req, time.Minute)
			if len(h.prov.carts) != 0 || len(h.prov.submits) != 0 {
				t.Fatalf("%d carts created and %d submitted at the provider, want none", len(h.prov.carts), len(h.prov.submits))
			}
			if rec, err := h.cfg.Store.Get(context.Background(), req.OrderID, req.Attempt); err != nil || rec.State != "" {
				t.Fatalf("the attempt was reserved (%q, %v): limits come first", rec.State, err)
			}
			if len(h.dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(h.dead))
			}
			dl := h.dead[0]
			var le *LimitError
			if dl.Action != string(provider.ActionFixInput) || dl.Rule != "request-limit" || dl.Code != "limit-exceeded" ||
				!strings.Contains(dl.Reason, "over the limit") || dl.Request == nil || dl.SourceTopic != h.cfg.Topology.Requests() {
				t.Fatalf("dead letter %s/%s/%s %q: want fix-input, rule request-limit, the reason and the request", dl.Action, dl.Rule, dl.Code, dl.Reason)
			}
			err := h.cfg.Limits.Check(req, len(h.encoded(req)))
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("limit %v, want %s", err, tc.limit)
			}
			terminals := 0
			for _, s := range h.statuses {
				if s.Terminal {
					terminals++
					if s.State != string(StatusDeadLettered) || s.Action != string(provider.ActionFixInput) {
						t.Fatalf("terminal status %+v, want dead_lettered fix-input", s)
					}
				}
			}
			if terminals != 1 {
				t.Fatalf("%d terminal statuses, want exactly 1: %v", terminals, h.states())
			}
		})
	}
}

// TestAttemptUnderWayIsFinishedDespiteLowerLimits: an attempt accepted before the limits were
// lowered is not dead-lettered on redelivery (that would give it a second terminal status).
func TestAttemptUnderWayIsFinishedDespiteLowerLimits(t *testing.T) {
	h := newHarness(t, func(time.Duration) (provider.Placement, error) {
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: placedEvents()}), nil
	}, nil)
	req := testRequest("lowered-1", schemas.Item{Merchant: "amazon", ProductID: "B0TEST", Quantity: 5, PriceCents: 100})
	h.run(req, time.Minute)
	h.cfg.Limits.MaxQuantity = 2
	h.run(req, time.Minute)
	if len(h.dead) != 0 || len(h.prov.submits) != 1 {
		t.Fatalf("%d dead letters and %d submits, want none and 1: %v", len(h.dead), len(h.prov.submits), h.states())
	}
}

// rejectingBus is the harness's bus behind a producer that knows its topics' limits and
// refuses records as producer.Producer does.
type rejectingBus struct {
	*harness
	limit  int
	reject func(producer.Message) bool

	mu    sync.Mutex
	tries int
}

func (b *rejectingBus) MaxRecordBytes(string) int { return b.limit }

func (b *rejectingBus) Send(ctx context.Context, msgs ...producer.Message) error {
	for _, m := range msgs {
		if b.reject != nil && b.reject(m) {
			b.mu.Lock()
			b.tries++
			b.mu.Unlock()
			return &producer.RejectedError{Topic: m.Topic, Key: m.Key, Size: 2 << 20, Limit: b.limit, Err: kerr.MessageTooLarge}
		}
	}
	return b.harness.Send(ctx, msgs...)
}

func (h *harness) encoded(req schemas.OrderRequested) []byte {
	h.t.Helper()
	b, err := h.cfg.Codec.Encode(h.cfg.Topology.Requests(), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// TestRequestWhoseRecordsWouldNotFitCreatesNothing: a request under the size limit whose
// failure event (the request and its items twice) would not fit the topic is refused before
// anything is created: the 5 MB request was charged, then never tracked.
func TestRequestWhoseRecordsWouldNotFitCreatesNothing(t *testing.T) {
	var bus *rejectingBus
	h := newHarness(t, nil, func(c *Config) {
		bus = &rejectingBus{harness: nil, limit: 200 << 10}
		c.Events = bus
	})
	bus.harness = h
	item := schemas.Item{Merchant: "amazon", ProductID: "B0TEST", Quantity: 1, PriceCents: 100, Name: strings.Repeat("n", 100<<10)}
	h.run(testRequest("unfit-1", item), time.Minute)
	if len(h.prov.carts) != 0 || len(h.dead) != 1 || !strings.Contains(h.dead[0].Reason, "derived record") || h.dead[0].Rule != "request-limit" {
		t.Fatalf("%d carts, dead letters %+v: want none created and one fix-input dead letter", len(h.prov.carts), h.dead)
	}
}

// TestRejectedProduceIsDeadLettered: a produce the producer rejects for the record itself is
// never retried: the handler's error is Permanent, and DeadLetterer parks the record with the
// decoded request, rule record-rejected and action investigate.
func TestRejectedProduceIsDeadLettered(t *testing.T) {
	var bus *rejectingBus
	h := newHarness(t, func(time.Duration) (provider.Placement, error) { return one(provider.OrderPlacement{}), nil }, func(c *Config) {
		bus = &rejectingBus{limit: 1 << 20, reject: func(m producer.Message) bool { _, ok := m.Value.(schemas.Tracking); return ok }}
		c.Events = bus
	})
	bus.harness = h
	req := testRequest("rejected-1")
	r := &kgo.Record{Topic: h.cfg.Topology.Requests(), Partition: 2, Offset: 40, Key: []byte(req.OrderID), Value: h.encoded(req)}
	err := h.worker.Handle(context.Background(), r)
	if !consumer.IsPermanent(err) || !errors.Is(err, producer.ErrRejected) {
		t.Fatalf("err = %v, want a Permanent rejection", err)
	}
	if err := DeadLetterer(h.cfg)(context.Background(), r, err); err != nil {
		t.Fatal(err)
	}
	if len(h.dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(h.dead))
	}
	dl := h.dead[0]
	if dl.Rule != RuleRecordRejected || dl.Action != string(provider.ActionInvestigate) || dl.Request == nil ||
		dl.OrderID != req.OrderID || dl.SourcePartition != 2 || dl.SourceOffset != 40 || !strings.Contains(dl.Reason, "does not fit") {
		t.Fatalf("dead letter %+v", dl)
	}
}

// TestDeadLettererEscalates: a dead letter that can not be produced even shrunk is tried a
// bounded number of times, logged at error level, and the partition moves on (nil).
func TestDeadLettererEscalates(t *testing.T) {
	var bus *rejectingBus
	var logs bytes.Buffer
	h := newHarness(t, nil, func(c *Config) {
		bus = &rejectingBus{limit: 1 << 20, reject: func(producer.Message) bool { return true }}
		c.Events = bus
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	bus.harness = h
	r := &kgo.Record{Topic: h.cfg.Topology.Requests(), Partition: 1, Offset: 7, Key: bytes.Repeat([]byte("k"), 4096), Value: []byte("garbage")}
	if err := DeadLetterer(h.cfg)(context.Background(), r, consumer.Permanent(errors.New("undecodable"))); err != nil {
		t.Fatalf("err = %v, want nil: the partition must move on", err)
	}
	if bus.tries != deadLetterTries {
		t.Fatalf("%d tries, want %d", bus.tries, deadLetterTries)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "offset=7") || !strings.Contains(logs.String(), "value_sha256=") {
		t.Fatalf("no escalation logged: %s", logs.String())
	}
}

// TestDeadLetterKeyOfHostileKeys: the dead letter's key is the order id, else the raw key, else
// (longer than an id may be) its SHA-256: the key counts against the topic's limit and can not shrink.
func TestDeadLetterKeyOfHostileKeys(t *testing.T) {
	var keys []string
	h := newHarness(t, nil, nil)
	h.cfg.Events = senderFunc(func(_ context.Context, msgs ...producer.Message) error {
		for _, m := range msgs {
			keys = append(keys, m.Key)
		}
		return nil
	})
	long := bytes.Repeat([]byte("k"), 100<<10)
	for _, r := range []*kgo.Record{{Key: []byte("short"), Value: []byte{1}}, {Key: long, Value: []byte{1}}} {
		if err := DeadLetterer(h.cfg)(context.Background(), r, errors.New("x")); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"short", "sha256:" + digest(long)}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
}

type senderFunc func(ctx context.Context, msgs ...producer.Message) error

func (f senderFunc) Send(ctx context.Context, msgs ...producer.Message) error { return f(ctx, msgs...) }
