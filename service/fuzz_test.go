package service_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/schemas"
)

// fuzzRecords and fuzzSeed fix the fuzz test: the same hostile records on every run.
const (
	fuzzRecords = 1200
	fuzzSeed    = 11
)

// TestFuzzRequestsTopic produces hostile records to the requests topic and lets the real
// worker consume them: random bytes, truncated Avro, unknown and wrong schema ids, and valid
// schemas with hostile values and sizes (each over a limit or invalid). Nothing may crash the
// process or panic (a recovered panic would show as a dead letter's reason), every record is
// dead-lettered with a reason, nothing reaches the provider, and the worker group's committed
// offsets move past all of them.
func TestFuzzRequestsTopic(t *testing.T) {
	b := startBench(t, processor.Limits{})
	b.setMaxMessageBytes(t, b.topo.Requests(), 16<<20) // the raw producer batches up to 16 MiB
	g := &hostile{b: b, t: t, rng: rand.New(rand.NewPCG(fuzzSeed, fuzzSeed))}
	g.ids = g.schemaIDs()
	recs := make([]*kgo.Record, 0, fuzzRecords)
	kinds := map[string]int{}
	for i := range fuzzRecords {
		kind, r := g.record(i)
		kinds[kind]++
		recs = append(recs, r)
	}
	t.Logf("hostile records by kind: %v", kinds)
	b.produce(t, b.topo.Requests(), recs...)

	dls := b.deadLetters(t, recs, 120*time.Second)
	for _, r := range recs {
		dl := dls[source{r.Partition, r.Offset}]
		switch {
		case strings.TrimSpace(dl.Reason) == "":
			t.Errorf("offset %d/%d: dead letter without a reason: %+v", r.Partition, r.Offset, dl)
		case strings.Contains(strings.ToLower(dl.Reason), "panic"):
			t.Errorf("offset %d/%d: the handler panicked: %s", r.Partition, r.Offset, dl.Reason)
		case dl.Action == "":
			t.Errorf("offset %d/%d: dead letter without an action: %q", r.Partition, r.Offset, dl.Reason)
		}
	}
	if n := len(b.env.Sandbox.Ledger().Entries()); n != 0 {
		t.Errorf("%d carts reached the provider's ledger, want none", n)
	}
	b.calls.mu.Lock()
	carts, submits := len(b.calls.carts), len(b.calls.submits)
	b.calls.mu.Unlock()
	if carts+submits != 0 {
		t.Errorf("%d carts created and %d submitted for hostile records, want none", carts, submits)
	}
	b.waitCommitted(t, b.topo.WorkerGroup(), b.topo.Requests(), 60*time.Second)
}

// hostile generates the fuzz test's records, deterministically from its rng.
type hostile struct {
	b   *bench
	t   *testing.T
	rng *rand.Rand
	ids []int // schema ids of other record types (wrong for a request)
}

func (g *hostile) schemaIDs() []int {
	var ids []int
	for topic, name := range g.b.topo.Schemas() {
		if name == schemas.NameOrderRequested {
			continue
		}
		v, err := g.b.codec.Encode(topic, valueOf(name))
		if err != nil {
			g.t.Fatal(err)
		}
		var h sr.ConfluentHeader
		id, _, err := h.DecodeID(v)
		if err != nil {
			g.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func valueOf(n schemas.Name) schemas.Record {
	switch n {
	case schemas.NameOrderStatus:
		return schemas.OrderStatus{EventID: "e", OrderID: "o", State: "placed"}
	case schemas.NameOrderFailure:
		return schemas.OrderFailure{EventID: "e", OrderID: "o"}
	case schemas.NameDeadLetter:
		return schemas.DeadLetter{DeadLetterID: "d", OrderID: "o"}
	case schemas.NameTracking:
		return schemas.Tracking{OrderID: "o"}
	}
	return schemas.ReplayAudit{AuditID: "a"}
}

func (g *hostile) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	return b
}

func (g *hostile) key(i int) []byte {
	switch g.rng.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		return g.bytes(1 + g.rng.IntN(600)) // binary, maybe longer than an id
	}
	return fmt.Appendf(nil, "fuzz-%04d", i)
}

// valid is a request that would be placed: the hostile generators break it.
func (g *hostile) valid(i int) schemas.OrderRequested {
	return demo.Placed.Build(fmt.Sprintf("fuzz-%04d", i), i)
}

func (g *hostile) encode(req schemas.OrderRequested) []byte {
	v, err := g.b.codec.Encode(g.b.topo.Requests(), req)
	if err != nil {
		g.t.Fatal(err)
	}
	return v
}

// withID replaces the schema id of a framed value.
func withID(v []byte, id uint32) []byte {
	out := append([]byte{}, v...)
	binary.BigEndian.PutUint32(out[1:5], id)
	return out
}

// record returns the i-th hostile record and its kind.
func (g *hostile) record(i int) (string, *kgo.Record) {
	kind, value := g.value(i)
	return kind, &kgo.Record{Key: g.key(i), Value: value}
}

func (g *hostile) value(i int) (string, []byte) {
	valid := g.encode(g.valid(i))
	switch g.rng.IntN(10) {
	case 0:
		return "random bytes", g.bytes(g.rng.IntN(2048))
	case 1:
		return "random body after a valid header", append(append([]byte{}, valid[:5]...), g.bytes(g.rng.IntN(512))...)
	case 2:
		return "truncated avro", valid[:5+g.rng.IntN(len(valid)-5)]
	case 3:
		return "trailing bytes", append(append([]byte{}, valid...), g.bytes(1+g.rng.IntN(64))...)
	case 4:
		ids := []uint32{0, 1 << 30, math.MaxUint32, math.MaxInt32, uint32(1_000_000 + g.rng.IntN(1_000_000))}
		return "unknown schema id", withID(valid, ids[g.rng.IntN(len(ids))])
	case 5:
		return "wrong schema id", withID(valid, uint32(g.ids[g.rng.IntN(len(g.ids))]))
	case 6:
		v := append([]byte{}, valid...)
		v[0] = byte(1 + g.rng.IntN(255))
		return "bad magic byte", v
	case 7:
		return "hostile block count", g.blockCount(i)
	}
	return g.hostileValues(i)
}

// blockCount is a valid prefix followed by an array or map claiming up to 2^31-1 entries.
func (g *hostile) blockCount(i int) []byte {
	req := schemas.OrderRequested{OrderID: fmt.Sprintf("fuzz-%04d", i), Attempt: 1, Provider: "rye"}
	v := g.encode(req)
	// Framing, order_id, attempt (1 byte), provider "rye" (4), the buyer's 10 empty strings: then items.
	n := 5 + len(binary.AppendVarint(nil, int64(len(req.OrderID)))) + len(req.OrderID) + 1 + 4 + 10
	counts := []int64{math.MaxInt32, -math.MaxInt32, 1 << 20, 1<<20 + 1, math.MaxInt64, math.MinInt64 + 1, 1 << 40}
	return binary.AppendVarint(append([]byte{}, v[:n]...), counts[g.rng.IntN(len(counts))])
}

// hostileValues is a request of the right schema that can not be an order.
func (g *hostile) hostileValues(i int) (string, []byte) {
	req := g.valid(i)
	junk := func(n int) string { return string(g.bytes(n)) } // invalid UTF-8, NULs, control characters
	switch g.rng.IntN(16) {
	case 0:
		req.Items[0].Quantity = math.MaxInt32
		return "quantity 2^31-1", g.encode(req)
	case 1:
		req.Items[0].Quantity = -g.rng.IntN(math.MaxInt32)
		return "negative quantity", g.encode(req)
	case 2:
		req.Items[0].PriceCents = math.MaxInt64
		req.Items[0].Quantity = 1 + g.rng.IntN(1000)
		return "price overflow", g.encode(req)
	case 3:
		req.Items[0].PriceCents = -1 - g.rng.Int64N(math.MaxInt64)
		return "negative price", g.encode(req)
	case 4:
		req.Items = nil
		return "no items", g.encode(req)
	case 5:
		req.Items = make([]schemas.Item, 101+g.rng.IntN(3000))
		for j := range req.Items {
			req.Items[j] = schemas.Item{Merchant: junk(3), ProductID: junk(4), Quantity: 1, PriceCents: 1}
		}
		return "too many items", g.encode(req)
	case 6:
		req.Attempt = []int{0, -1, math.MinInt32}[g.rng.IntN(3)]
		return "attempt out of range", g.encode(req)
	case 7:
		req.Provider = junk(g.rng.IntN(4096))
		return "unknown provider", g.encode(req)
	case 8:
		req.Buyer.CountryCode = ""
		req.Buyer.FirstName = junk(100)
		return "no country", g.encode(req)
	case 9:
		req.OrderID = ""
		return "empty order id", g.encode(req)
	case 10:
		req.OrderID = junk(257 + g.rng.IntN(10_000))
		return "order id too long", g.encode(req)
	case 11:
		req.RequestedAt = time.UnixMilli(math.MaxInt64 - g.rng.Int64N(1000))
		return "requested_at far away", g.encode(req)
	case 12:
		req.Attributes = map[string]string{junk(8): junk(300 << 10)}
		return "request too large", g.encode(req)
	case 13:
		req.Items[0].Quantity = 1001 + g.rng.IntN(1_000_000)
		req.Items[0].Name = junk(g.rng.IntN(1000))
		return "quantity over the limit", g.encode(req)
	case 14:
		req.Items = append(req.Items, schemas.Item{Merchant: junk(10), ProductID: "", Quantity: 1})
		return "item without product", g.encode(req)
	}
	req.Items[0].PriceCents = 5_000_001 + g.rng.Int64N(1<<40)
	return "line amount over the limit", g.encode(req)
}
