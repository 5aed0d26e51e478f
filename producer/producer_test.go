package producer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/due"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
	"github.com/orderflow/orderflow/tracecontext"
)

// The tests run against a real broker and registry when ORDERFLOW_TEST_BROKERS and
// ORDERFLOW_TEST_REGISTRY are set (testenv), else against kfake and srfake. Topics are unique per test.

type env struct {
	brokers []string
	reg     *sr.Client
	adm     *kadm.Client
	topo    topology.Topology
}

// newEnv creates the topology's topics, the dead-letter topic limited to dlqLimit bytes.
func newEnv(t *testing.T, dlqLimit int) *env {
	t.Helper()
	e := &env{}
	if b := testenv.Brokers(); b != nil {
		e.brokers = b
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		e.brokers = c.ListenAddrs()
	}
	url, opts := testenv.RegistryURL(), testenv.RegistryOpts(t)
	if url == "" {
		fake := srfake.New()
		t.Cleanup(fake.Close)
		url = fake.URL()
	}
	var err error
	if e.reg, err = sr.NewClient(append([]sr.ClientOpt{sr.URLs(url)}, opts...)...); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(e.brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.adm = kadm.NewClient(cl)
	e.topo = topology.Topology{Prefix: fmt.Sprintf("producer-test-%d.", time.Now().UnixNano()), Partitions: 1}.WithDefaults()
	if err := e.topo.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.topo.Ensure(ctx, e.adm); err != nil {
		t.Fatal(err)
	}
	e.setLimit(t, e.topo.DLQ(), dlqLimit)
	t.Cleanup(func() {
		var topics []string
		for topic := range e.topo.Schemas() {
			topics = append(topics, topic)
		}
		_, _ = e.adm.DeleteTopics(context.Background(), topics...)
	})
	return e
}

func (e *env) setLimit(t *testing.T, topic string, limit int) {
	t.Helper()
	v := strconv.Itoa(limit)
	resp, err := e.adm.AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		t.Fatalf("setting max.message.bytes of %s: %v", topic, err)
	}
}

func (e *env) producer(t *testing.T) *producer.Producer {
	t.Helper()
	p, err := producer.New(context.Background(), producer.Config{Brokers: e.brokers, Registry: e.reg, Topology: e.topo,
		Opts: append(testenv.KafkaSecurity(t), kgo.MetadataMinAge(100*time.Millisecond))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// records reads every record of topic (one partition) up to its end.
func (e *env) records(t *testing.T, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Offset == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(16<<20))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(out), end.Offset, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func random(n int) string {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26)) // incompressible enough for snappy
	}
	return string(b)
}

// TestSendRefusesRecordsThatCanNotFit: a record larger than its topic's limit that can not
// shrink is refused before anything of the Send is produced, as ErrRejected and MessageTooLarge.
func TestSendRefusesRecordsThatCanNotFit(t *testing.T) {
	e := newEnv(t, 64<<10)
	p := e.producer(t)
	if got := p.MaxRecordBytes(e.topo.DLQ()); got != 64<<10 {
		t.Fatalf("learned limit of the dead-letter topic %d, want %d", got, 64<<10)
	}
	if got := p.MaxRecordBytes(e.topo.Status()); got > producer.DefaultMaxMessageBytes || got < 64<<10 {
		t.Fatalf("limit of the status topic %d: want at most Kafka's default and no less than the smallest topic", got)
	}
	small := schemas.OrderStatus{EventID: "e1", OrderID: "o-1", State: "placed", At: time.Now()}
	big := schemas.OrderStatus{EventID: "e2", OrderID: "o-1", State: "failed", Message: random(2 << 20), At: time.Now()}
	err := p.Send(context.Background(),
		producer.Message{Topic: e.topo.Status(), Key: "o-1", Value: small},
		producer.Message{Topic: e.topo.Status(), Key: "o-1", Value: big})
	var re *producer.RejectedError
	if !errors.Is(err, producer.ErrRejected) || !errors.Is(err, kerr.MessageTooLarge) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RejectedError for a record too large", err)
	}
	if re.Topic != e.topo.Status() || re.Size <= re.Limit {
		t.Fatalf("rejected %+v: want the topic, the size and the limit", re)
	}
	if n := len(e.records(t, e.topo.Status())); n != 0 {
		t.Fatalf("%d records produced, want none of a refused Send", n)
	}
}

// TestSendShrinksDeadLettersToFit: a dead letter larger than its topic keeps the decoded request
// and the reason, its raw bytes replaced by their size and SHA-256.
func TestSendShrinksDeadLettersToFit(t *testing.T) {
	e := newEnv(t, 64<<10)
	p := e.producer(t)
	req := schemas.OrderRequested{OrderID: "o-1", Attempt: 1, Provider: "rye", RequestedAt: time.Now().UTC().Truncate(time.Millisecond),
		Buyer: schemas.Buyer{CountryCode: "US"}, Items: []schemas.Item{{Merchant: "amazon", ProductID: random(20 << 10), Quantity: 1}}}
	raw := []byte(random(100 << 10))
	dl := schemas.DeadLetter{DeadLetterID: "raw/x/0/7", OrderID: "o-1", Reason: "conflicting payload", Action: "fix-record",
		SourceTopic: e.topo.Requests(), SourceOffset: 7, RawKey: []byte("o-1"), RawValue: raw, Request: &req, At: time.Now()}
	if err := p.Send(context.Background(), producer.Message{Topic: e.topo.DLQ(), Key: "o-1", Value: dl}); err != nil {
		t.Fatal(err)
	}
	recs := e.records(t, e.topo.DLQ())
	if len(recs) != 1 {
		t.Fatalf("%d dead letters, want 1", len(recs))
	}
	got, err := p.Codec().DecodeDeadLetter(context.Background(), recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.RawValue != nil || got.RawDigest == nil || got.RawDigest.ValueSize != int64(len(raw)) || got.RawDigest.ValueSHA256 == "" ||
		got.Request == nil || got.Request.Items[0].ProductID != req.Items[0].ProductID || got.Reason != dl.Reason ||
		got.SourceOffset != 7 || len(got.Omitted) != 1 || got.Omitted[0] != schemas.OmittedRaw {
		t.Fatalf("dead letter: raw %d bytes, digest %+v, request kept %v, reason %q, omitted %v", len(got.RawValue), got.RawDigest, got.Request != nil, got.Reason, got.Omitted)
	}
}

// TestBrokerRejectionIsRejected: a topic whose limit was lowered after New refuses a record at
// the broker; Send says ErrRejected (not a transient error to retry forever) and learns the new
// limit, so the same dead letter is shrunk to fit on the next Send.
func TestBrokerRejectionIsRejected(t *testing.T) {
	e := newEnv(t, 512<<10)
	p := e.producer(t)
	e.setLimit(t, e.topo.DLQ(), 32<<10)
	req := schemas.OrderRequested{OrderID: "o-2", Attempt: 1, Provider: "rye", Buyer: schemas.Buyer{CountryCode: "US"}, RequestedAt: time.Now()}
	dl := schemas.DeadLetter{DeadLetterID: "d", OrderID: "o-2", Reason: "r", Action: "fix-record", RawValue: []byte(random(100 << 10)), Request: &req, At: time.Now()}
	msg := producer.Message{Topic: e.topo.DLQ(), Key: "o-2", Value: dl}
	// The broker may take a moment to apply the altered config: the first refusal is what counts.
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		err = p.Send(context.Background(), msg)
		if err != nil || time.Now().After(deadline) {
			break
		}
		t.Log("the broker still accepted the record under its old limit; trying again")
		time.Sleep(200 * time.Millisecond) // waiting for the broker's config, not for orderflow
	}
	if !errors.Is(err, producer.ErrRejected) || !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("err = %v, want a rejection by the broker", err)
	}
	if got := p.MaxRecordBytes(e.topo.DLQ()); got != 32<<10 {
		t.Fatalf("limit after the refusal %d, want the topic's new %d", got, 32<<10)
	}
	if err := p.Send(context.Background(), msg); err != nil {
		t.Fatalf("sending again after learning the limit: %v", err)
	}
}

// TestSendCopiesTraceContext: every record of a Send under a context carrying a trace context
// (tracecontext.With) gets its traceparent and tracestate, once; a Message's own header of that
// name wins, and the due header stays.
func TestSendCopiesTraceContext(t *testing.T) {
	e := newEnv(t, 64<<10)
	p := e.producer(t)
	in := &kgo.Record{Headers: []kgo.RecordHeader{
		{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		{Key: "tracestate", Value: []byte("vendor=a")}, {Key: "other", Value: []byte("not carried")}}}
	ctx := tracecontext.With(context.Background(), in)
	own := []kgo.RecordHeader{{Key: "tracestate", Value: []byte("vendor=own")}}
	st := func(id string) schemas.OrderStatus {
		return schemas.OrderStatus{EventID: id, OrderID: "o-1", State: "placed", At: time.Now()}
	}
	if err := p.Send(ctx,
		producer.Message{Topic: e.topo.Status(), Key: "o-1", Value: st("e1")},
		producer.Message{Topic: e.topo.Status(), Key: "o-1", Value: st("e2"), Headers: own, Due: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), producer.Message{Topic: e.topo.Status(), Key: "o-1", Value: st("e3")}); err != nil {
		t.Fatal(err)
	}
	recs := e.records(t, e.topo.Status())
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	headers := func(r *kgo.Record) map[string][]string {
		m := map[string][]string{}
		for _, h := range r.Headers {
			m[h.Key] = append(m[h.Key], string(h.Value))
		}
		return m
	}
	tp := []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	for i, want := range []map[string][]string{
		{"traceparent": tp, "tracestate": {"vendor=a"}},
		{"traceparent": tp, "tracestate": {"vendor=own"}, due.Header: nil},
		{},
	} {
		got := headers(recs[i])
		for k, v := range want {
			if v == nil {
				if len(got[k]) != 1 {
					t.Errorf("record %d: header %s %v, want one", i, k, got[k])
				}
				delete(got, k)
				continue
			}
			if !slices.Equal(got[k], v) {
				t.Errorf("record %d: header %s %v, want %v", i, k, got[k], v)
			}
			delete(got, k)
		}
		if len(got) != 0 {
			t.Errorf("record %d: unexpected headers %v", i, got)
		}
	}
	if len(own) != 1 {
		t.Errorf("Send changed the message's headers: %v", own)
	}
}
