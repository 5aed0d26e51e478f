package service_test

// Hostile input at the Kafka boundary, end to end (issue 11): request limits, records too large
// for their topics, and the fuzz test (fuzz_test.go). Like the rest of the suite it runs on the
// embedded stack, or on the real services when ORDERFLOW_TEST_BROKERS / _REGISTRY / _REDIS are
// set (a service that is then unreachable fails the test; nothing is skipped).

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// bench is orderflow with given request limits, its provider calls counted, and clients to
// write raw records and read every topic.
type bench struct {
	env   *embedded.Env
	svc   *service.Service
	topo  topology.Topology
	adm   *kadm.Client
	raw   *kgo.Client // produces any bytes, up to 16 MiB
	calls *callCounter
	codec *schemas.Codec
}

func startBench(t *testing.T, limits processor.Limits) *bench {
	t.Helper()
	calls := &callCounter{carts: map[string]int{}, submits: map[string]int{}}
	s := startStack(t, func(set *stackSetup) {
		set.svc.Processor.Limits = limits
		set.svc.RateLimits = map[string]ratelimit.Limits{"rye": {}, "digitalriver": {}}
		set.wrap = func(ps map[string]provider.Provider) map[string]provider.Provider {
			counted := map[string]provider.Provider{}
			for name, p := range ps {
				counted[name] = countingProvider{Provider: p, c: calls}
			}
			return counted
		}
	})
	env := s.env
	b := &bench{env: env, svc: s.svc, topo: s.topo, calls: calls}
	b.codec = b.svc.Producer().Codec()
	admCl, err := kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(env.Brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	b.adm = kadm.NewClient(admCl)
	if b.raw, err = kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(env.Brokers...), kgo.ProducerBatchMaxBytes(16<<20), kgo.ProducerLinger(time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.raw.Close)
	return b
}

// callCounter counts createCart and submit calls per order ref ("order/attempt").
type callCounter struct {
	mu             sync.Mutex
	carts, submits map[string]int
}

func (c *callCounter) counts(orderID string) (carts, submits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ref, n := range c.carts {
		if strings.HasPrefix(ref, orderID+"/") {
			carts += n
		}
	}
	for ref, n := range c.submits {
		if strings.HasPrefix(ref, orderID+"/") {
			submits += n
		}
	}
	return carts, submits
}

type countingProvider struct {
	provider.Provider
	c *callCounter
}

func (p countingProvider) CreateCart(ctx context.Context, r provider.CartRequest) (provider.Cart, error) {
	p.c.mu.Lock()
	p.c.carts[r.OrderRef]++
	p.c.mu.Unlock()
	return p.Provider.CreateCart(ctx, r)
}

func (p countingProvider) Submit(ctx context.Context, r provider.SubmitRequest) (provider.Submission, error) {
	p.c.mu.Lock()
	p.c.submits[r.OrderRef]++
	p.c.mu.Unlock()
	return p.Provider.Submit(ctx, r)
}

// setMaxMessageBytes raises (or lowers) a topic's max.message.bytes.
func (b *bench) setMaxMessageBytes(t *testing.T, topic string, n int) {
	t.Helper()
	v := strconv.Itoa(n)
	resp, err := b.adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("setting max.message.bytes of %s: %v", topic, err)
	}
}

// produce writes raw records (key, value) to topic and returns them with their offsets.
func (b *bench) produce(t *testing.T, topic string, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	for _, r := range recs {
		r.Topic = topic
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.raw.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing %d records to %s: %v", len(recs), topic, err)
	}
	return recs
}

// request encodes req as an upstream service would.
func (b *bench) request(t *testing.T, req schemas.OrderRequested) *kgo.Record {
	t.Helper()
	v, err := b.codec.Encode(b.topo.Requests(), req)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(req.OrderID), Value: v}
}

// source identifies a record by partition and offset.
type source struct {
	partition int32
	offset    int64
}

// deadLetters reads the dead-letter topic until every record of want (from the requests topic)
// has its dead letter, and returns them by source.
func (b *bench) deadLetters(t *testing.T, want []*kgo.Record, d time.Duration) map[source]schemas.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	got := map[source]schemas.DeadLetter{}
	missing := func() []source {
		var out []source
		for _, r := range want {
			if _, ok := got[source{r.Partition, r.Offset}]; !ok {
				out = append(out, source{r.Partition, r.Offset})
			}
		}
		return out
	}
	err := oracle.Tail(ctx, b.env.Brokers, testenv.KafkaSecurity(t), b.topo.DLQ(), func(r *kgo.Record) {
		dl, err := b.codec.DecodeDeadLetter(ctx, r.Value)
		if err != nil {
			t.Errorf("a dead letter does not decode: %v", err)
			return
		}
		if dl.SourceTopic == b.topo.Requests() {
			got[source{dl.SourcePartition, dl.SourceOffset}] = dl
		}
	}, func() bool { return len(missing()) == 0 })
	if err != nil {
		m := missing()
		t.Fatalf("%d of %d records have no dead letter within %v, first %+v", len(m), len(want), d, m[:min(len(m), 5)])
	}
	return got
}

// statuses reads the status topic until each of ids has a terminal event, and returns every
// event of those orders.
func (b *bench) statuses(t *testing.T, ids []string, d time.Duration) map[string][]schemas.OrderStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out := map[string][]schemas.OrderStatus{}
	finished := func() bool {
		for _, id := range ids {
			if !slices.ContainsFunc(out[id], func(s schemas.OrderStatus) bool { return s.Terminal }) {
				return false
			}
		}
		return true
	}
	err := oracle.Tail(ctx, b.env.Brokers, testenv.KafkaSecurity(t), b.topo.Status(), func(r *kgo.Record) {
		if st, err := b.codec.DecodeOrderStatus(ctx, r.Value); err == nil && slices.Contains(ids, st.OrderID) {
			out[st.OrderID] = append(out[st.OrderID], st)
		}
	}, finished)
	if err != nil {
		t.Fatalf("not every order ended within %v: %v", d, out)
	}
	return out
}

// waitCommitted waits until the group's committed offsets reach the end of every partition of
// topic: the partitions moved past every record.
func (b *bench) waitCommitted(t *testing.T, group, topic string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var behind []string
	for {
		committed, err := b.adm.FetchOffsets(ctx, group)
		if err == nil {
			behind = nil
			ends.Each(func(e kadm.ListedOffset) {
				c, ok := committed.Lookup(topic, e.Partition)
				if e.Offset > 0 && (!ok || c.At < e.Offset) {
					behind = append(behind, fmt.Sprintf("partition %d committed %d of %d", e.Partition, c.At, e.Offset))
				}
			})
			if len(behind) == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s did not commit past every record of %s within %v: %v (%v)", group, topic, d, behind, err)
		case <-time.After(100 * time.Millisecond): // polling the broker for a condition, with a deadline
		}
	}
}

// attributesOf returns attributes holding about n bytes: bulk that is neither an item nor
// charged, so the request's failure event stays about its size.
func attributesOf(n int) map[string]string {
	return map[string]string{"blob": strings.Repeat("z", n)}
}

// TestRequestLimitsEndToEnd sends the cases with the default limits: each is
// dead-lettered with action fix-input and nothing is created at the provider.
func TestRequestLimitsEndToEnd(t *testing.T) {
	b := startBench(t, processor.Limits{})
	b.setMaxMessageBytes(t, b.topo.Requests(), 8<<20) // the 5 MB request must reach the worker
	quantity := demo.Placed.Build("lim-quantity", 1)
	quantity.Items[0].Quantity = math.MaxInt32 // about $420 billion at 19.99
	items := demo.Placed.Build("lim-items", 2)
	items.Items = slices.Repeat(items.Items[:1], 10_000)
	kb600 := demo.Placed.Build("lim-600kb", 3)
	kb600.Attributes = attributesOf(600 << 10)
	mb5 := demo.Placed.Build("lim-5mb", 4)
	mb5.Items[0].Name = strings.Repeat("n", 5<<20)
	ok := demo.Placed.Build("lim-within", 5)

	cases := []struct {
		req   schemas.OrderRequested
		limit string
	}{{quantity, "quantity"}, {items, "item count"}, {kb600, "request size"}, {mb5, "request size"}}
	var recs []*kgo.Record
	for _, c := range cases {
		recs = append(recs, b.request(t, c.req))
	}
	b.produce(t, b.topo.Requests(), append(recs, b.request(t, ok))...)
	dls := b.deadLetters(t, recs, 60*time.Second)
	ids := []string{ok.OrderID}
	for i, c := range cases {
		id := c.req.OrderID
		ids = append(ids, id)
		dl := dls[source{recs[i].Partition, recs[i].Offset}]
		if dl.OrderID != id || dl.Action != "fix-input" || dl.Rule != "request-limit" || !strings.Contains(dl.Reason, c.limit) {
			t.Errorf("%s: dead letter %s/%s %q, want fix-input, request-limit, %q", id, dl.Action, dl.Rule, dl.Reason, c.limit)
		}
		if id == mb5.OrderID {
			// 5 MB can not fit a 1 MB dead-letter topic: the request is left out, the reason stays.
			if dl.Request != nil || !slices.Contains(dl.Omitted, schemas.OmittedRequest) {
				t.Errorf("%s: request kept %v, omitted %v: want the request left out to fit", id, dl.Request != nil, dl.Omitted)
			}
		} else if dl.Request == nil || dl.Request.OrderID != id {
			t.Errorf("%s: the dead letter lost the decoded request (omitted %v)", id, dl.Omitted)
		}
	}
	sts := b.statuses(t, ids, 60*time.Second)
	for _, c := range cases {
		id := c.req.OrderID
		var terminal []string
		for _, s := range sts[id] {
			if s.Terminal {
				terminal = append(terminal, s.State+"/"+s.Action)
			}
		}
		if len(terminal) != 1 || terminal[0] != "dead_lettered/fix-input" {
			t.Errorf("%s: terminal statuses %v, want one dead_lettered/fix-input", id, terminal)
		}
		if carts, submits := b.calls.counts(id); carts+submits != 0 {
			t.Errorf("%s: %d carts created and %d submitted at the provider, want none", id, carts, submits)
		}
	}
	ledger := b.env.Sandbox.Ledger().ByOrderRef()
	for _, c := range cases {
		if e := ledger[c.req.OrderID+"/1"]; len(e) != 0 {
			t.Errorf("%s: the sandbox ledger has %+v", c.req.OrderID, e)
		}
	}
	if carts, submits := b.calls.counts(ok.OrderID); carts != 1 || submits != 1 || len(ledger[ok.OrderID+"/1"]) != 1 {
		t.Errorf("the order within the limits: %d carts, %d submits, ledger %v; want one placed", carts, submits, ledger[ok.OrderID+"/1"])
	}
	b.waitCommitted(t, b.topo.WorkerGroup(), b.topo.Requests(), 30*time.Second)
}

// TestDeadLetterTooLargeForTopic is the 600 KB conflicting request: its dead letter
// (the raw record and the decoded request, ~1.2 MB) did not fit Kafka's 1 MB default and was
// retried forever while the partition's commit stood still. Now the raw bytes are replaced by
// their size and SHA-256, the decoded request and the reason stay, and the partition moves on:
// a later order of the same key is placed and the group commits past everything.
func TestDeadLetterTooLargeForTopic(t *testing.T) {
	b := startBench(t, processor.Limits{MaxRequestBytes: 1 << 20})
	first := demo.Placed.Build("big-1", 1)
	first.Attributes = attributesOf(600 << 10)
	conflicting := first
	conflicting.Items = []schemas.Item{{Merchant: "amazon", ProductID: "B0OTHER", Quantity: 2, PriceCents: 100}}
	recs := b.produce(t, b.topo.Requests(), b.request(t, first), b.request(t, conflicting))
	dls := b.deadLetters(t, recs[1:], 60*time.Second)
	dl := dls[source{recs[1].Partition, recs[1].Offset}]
	size := int64(len(recs[1].Value))
	if !strings.Contains(dl.Reason, "different payload") || dl.Request == nil || dl.Request.Items[0].ProductID != "B0OTHER" ||
		dl.RawValue != nil || dl.RawDigest == nil || dl.RawDigest.ValueSize != size || len(dl.RawDigest.ValueSHA256) != 64 ||
		!slices.Equal(dl.Omitted, []string{schemas.OmittedRaw}) {
		t.Fatalf("dead letter: reason %q, request %v, raw %d bytes, digest %+v, omitted %v; want the conflict, the decoded request and the digest of %d bytes",
			dl.Reason, dl.Request != nil, len(dl.RawValue), dl.RawDigest, dl.Omitted, size)
	}
	// The same key, so the same partition: it is placed only if the partition moved on.
	next := demo.Placed.Build("big-1", 2)
	next.Attempt = 2
	b.produce(t, b.topo.Requests(), b.request(t, next))
	b.waitPlaced(t, "big-1", []int{1, 2}, 60*time.Second)
	if d := b.env.Sandbox.Ledger().DoubleSubmits(); len(d) > 0 {
		t.Errorf("submitted twice: %v", d)
	}
	b.waitCommitted(t, b.topo.WorkerGroup(), b.topo.Requests(), 30*time.Second)
}

// TestRequestTooLargeForItsRecords is the 5 MB request, with the request-size limit
// raised past it: it used to be charged, then its tracking record was too large to produce and
// the order was never finished nor dead-lettered. Now it is refused before anything is
// created, because its tracking record and failure event would not fit their topics, and its
// dead letter fits the dead-letter topic without the request.
func TestRequestTooLargeForItsRecords(t *testing.T) {
	b := startBench(t, processor.Limits{MaxRequestBytes: 8 << 20})
	b.setMaxMessageBytes(t, b.topo.Requests(), 8<<20)
	req := demo.Placed.Build("huge-1", 1)
	req.Attributes = attributesOf(5 << 20)
	recs := b.produce(t, b.topo.Requests(), b.request(t, req))
	dl := b.deadLetters(t, recs, 60*time.Second)[source{recs[0].Partition, recs[0].Offset}]
	if dl.Action != "fix-input" || !strings.Contains(dl.Reason, "derived record") || dl.Request != nil ||
		!slices.Contains(dl.Omitted, schemas.OmittedRequest) || dl.OrderID != "huge-1" {
		t.Fatalf("dead letter %s %q, request kept %v, omitted %v: want fix-input for a derived record, the request left out",
			dl.Action, dl.Reason, dl.Request != nil, dl.Omitted)
	}
	if carts, submits := b.calls.counts("huge-1"); carts+submits != 0 {
		t.Fatalf("%d carts and %d submits at the provider, want none", carts, submits)
	}
	b.statuses(t, []string{"huge-1"}, 30*time.Second)
	b.waitCommitted(t, b.topo.WorkerGroup(), b.topo.Requests(), 30*time.Second)
}

// waitPlaced waits until every attempt of order id has a terminal placed status.
func (b *bench) waitPlaced(t *testing.T, id string, attempts []int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		sts := b.statuses(t, []string{id}, time.Until(deadline))
		placed := 0
		for _, a := range attempts {
			if slices.ContainsFunc(sts[id], func(s schemas.OrderStatus) bool { return s.Attempt == a && s.Terminal && s.State == "placed" }) {
				placed++
			}
		}
		if placed == len(attempts) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s: attempts %v not all placed within %v: %v", id, attempts, d, sts[id])
		}
	}
}
