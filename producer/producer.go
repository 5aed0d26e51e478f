// Package producer writes orderflow's Avro records to Kafka in the Confluent wire format.
// Upstream services use it to request orders; orderflow's roles use it for every event.
//
// Send returns only when every record is acknowledged by the broker (acks=all, idempotent
// producer), so a caller that commits its input after Send never loses an effect.
//
// Every record must fit its topic. The producer learns each topic's limit at New
// (max.message.bytes, capped by the client's batch limit, which it lowers to the smallest topic's
// limit) and checks every record before producing any of a Send: a value that can give up
// detail (a Shrinker: schemas.DeadLetter) is shrunk until it fits, anything else is refused with
// a *RejectedError. A record the broker refuses for itself (too large, invalid) is a
// *RejectedError too. ErrRejected means retrying the same record can never succeed: callers
// dead-letter or escalate instead of retrying forever.
package producer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/due"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
	"github.com/orderflow/orderflow/tracecontext"
)

// Config configures a Producer.
type Config struct {
	// Brokers to bootstrap from. Required.
	Brokers []string
	// Registry is the schema registry client (Confluent API). Required.
	Registry *sr.Client
	// Topology names the topics and their schemas. Default topology.Default().
	Topology topology.Topology
	// LookupSchemas makes New only look each topic's schema up (schemas.Codec.Lookup) instead of
	// registering it and setting the subject's compatibility: New writes nothing to the
	// registry, so a read-only registry key works, and a schema not registered beforehand is
	// an error (schemas.ErrNotRegistered) naming its subject.
	LookupSchemas bool
	// Opts are extra franz-go client options. A kgo.ProducerBatchMaxBytes here caps every
	// topic's record limit (see MaxRecordBytes).
	Opts []kgo.Opt
}

// DefaultMaxMessageBytes is Kafka's default max.message.bytes (message.max.bytes), the limit
// assumed for a topic whose configuration can not be read.
const DefaultMaxMessageBytes = 1048588

// Producer sends orderflow records. It is safe for concurrent use.
type Producer struct {
	cl    *kgo.Client
	codec *schemas.Codec
	topo  topology.Topology

	batchMax int // the client's ProducerBatchMaxBytes
	mu       sync.Mutex
	limits   map[string]int // topic -> max.message.bytes, as last described
}

// Message is one record to send. Key is the order id. A non-zero Due holds the record back
// from the consumer until then (the due header, package due). Send adds the trace context
// headers of its ctx (tracecontext.With) that Headers does not have already.
type Message struct {
	Topic   string
	Key     string
	Value   schemas.Record
	Due     time.Time
	Headers []kgo.RecordHeader
}

// New connects and registers every topic's schema with the registry (or, with
// Config.LookupSchemas, looks each up).
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if len(cfg.Brokers) == 0 || cfg.Registry == nil {
		return nil, errors.New("producer: brokers and registry are required")
	}
	cfg.Topology = cfg.Topology.WithDefaults()
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	codec := schemas.NewCodec(cfg.Registry)
	use := codec.Register
	if cfg.LookupSchemas {
		use = codec.Lookup
	}
	sch := cfg.Topology.Schemas()
	for _, topic := range slices.Sorted(maps.Keys(sch)) { // the same subject fails first every time
		if _, err := use(ctx, topic, sch[topic]); err != nil {
			return nil, err
		}
	}
	limits, err := describeLimits(ctx, cfg, topicsOf(cfg.Topology))
	if err != nil {
		return nil, err
	}
	// One batch of one partition must fit its topic: kgo has one batch limit per client, so it
	// is the smallest topic's limit (cfg.Opts may lower it further).
	batchMax := int32(1000012) // kgo's default
	for _, l := range limits {
		batchMax = min(batchMax, int32(l))
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2, like the Java client
		kgo.ProducerBatchMaxBytes(batchMax),
	}, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating producer client: %w", err)
	}
	p := &Producer{cl: cl, codec: codec, topo: cfg.Topology, batchMax: int(batchMax), limits: limits}
	if v, ok := cl.OptValue(kgo.ProducerBatchMaxBytes).(int32); ok {
		p.batchMax = int(v)
	}
	return p, nil
}

func topicsOf(t topology.Topology) []string {
	topics := make([]string, 0, len(t.Schemas()))
	for topic := range t.Schemas() {
		topics = append(topics, topic)
	}
	return topics
}

// describeLimits reads max.message.bytes of topics with a short-lived client (the producer's
// batch limit depends on it). A topic whose configuration can not be read (missing, not
// authorized) gets DefaultMaxMessageBytes; an unreachable cluster, or one refusing the client's
// SASL login, is an error.
func describeLimits(ctx context.Context, cfg Config, topics []string) (map[string]int, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.Opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating a client to describe topics: %w", err)
	}
	defer cl.Close()
	limits := make(map[string]int, len(topics))
	for _, t := range topics {
		limits[t] = DefaultMaxMessageBytes
	}
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topics...)
	var ae *kerr.Error
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		// The brokers refused this client, not the request: every later request fails too.
		return nil, fmt.Errorf("describing the limits of topics: %w", err)
	case errors.As(err, &ae):
		return limits, nil // refused (not authorized, unsupported): the defaults
	case err != nil:
		return nil, fmt.Errorf("describing the limits of topics: %w", err)
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 && rc.Err == nil {
				limits[rc.Name] = n
			}
		}
	}
	return limits, nil
}

// MaxRecordBytes is the largest record (key, value, headers and batch overhead) Send produces to
// topic: the topic's max.message.bytes, capped by the client's batch limit.
func (p *Producer) MaxRecordBytes(topic string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.limits[topic]
	if !ok {
		l = DefaultMaxMessageBytes
	}
	return min(l, p.batchMax)
}

// relearn reads topic's limit again after the broker refused a record as too large (its
// configuration may have changed since New), so the next Send checks against it.
func (p *Producer) relearn(ctx context.Context, topic string) {
	rcs, err := kadm.NewClient(p.cl).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		return
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" && c.Value != nil {
			if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 {
				p.mu.Lock()
				p.limits[topic] = n
				p.mu.Unlock()
			}
		}
	}
}

// ErrRejected marks a record that can never be produced as it is: too large for its topic even
// after shrinking, refused by the broker for itself (kerr.MessageTooLarge, RecordListTooLarge,
// InvalidRecord, CorruptMessage), or not encodable. Retrying it can not help.
var ErrRejected = errors.New("record rejected")

// RejectedError is a record that can never be produced. errors.Is(err, ErrRejected) holds, and
// Err is kerr.MessageTooLarge for a record too large (checked here or by the broker).
type RejectedError struct {
	Topic string
	Key   string // clipped
	Size  int    // bytes with batch overhead; 0 when the value did not encode
	Limit int    // the topic's record limit, when known
	Err   error
}

func (e *RejectedError) Error() string {
	if e.Size > 0 && e.Limit > 0 {
		return fmt.Sprintf("record for %s (key %q, %d bytes) does not fit the topic's limit of %d bytes: %v", e.Topic, e.Key, e.Size, e.Limit, e.Err)
	}
	return fmt.Sprintf("record for %s (key %q) rejected: %v", e.Topic, e.Key, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

// Shrinker is a value that can give up detail to fit its topic: Shrink returns the next smaller
// form, and false when nothing is left to give up. schemas.DeadLetter is one.
type Shrinker interface {
	Shrink() (schemas.Record, bool)
}

// recordOverhead bounds what a record adds to its key, value and headers in a batch of its own:
// the v2 batch header (61 bytes) and the record's varints.
const recordOverhead = 61 + 40

// recordBytes bounds the size of r in a batch of its own, as the broker measures it.
func recordBytes(r *kgo.Record) int {
	n := recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// permanent reports whether a produce error is about the record itself.
func permanent(err error) bool {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func clipKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "…"
	}
	return k
}

// Codec returns the codec with every topic's schema registered.
func (p *Producer) Codec() *schemas.Codec { return p.codec }

// Client returns the underlying franz-go client.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Send encodes and produces msgs and waits until all are acknowledged. Every record is checked
// against its topic's limit first (a Shrinker value is shrunk to fit): when one can not fit,
// nothing is produced and the error is a *RejectedError. A record the broker refuses for itself
// is a *RejectedError too (the others of msgs may have been produced); any other error is
// transient.
//
// Every record carries the trace context of the record being handled (tracecontext.With on
// ctx: traceparent, tracestate), unless its Message sets a header of that name itself: all the
// records one request causes share its trace.
func (p *Producer) Send(ctx context.Context, msgs ...Message) error {
	trace := tracecontext.From(ctx)
	recs := make([]*kgo.Record, 0, len(msgs))
	for _, m := range msgs {
		m.Headers = withTrace(m.Headers, trace)
		r, err := p.record(m)
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	results := p.cl.ProduceSync(ctx, recs...)
	for _, res := range results {
		if res.Err != nil && permanent(res.Err) {
			r := res.Record
			if errors.Is(res.Err, kerr.MessageTooLarge) {
				p.relearn(ctx, r.Topic)
			}
			return &RejectedError{Topic: r.Topic, Key: clipKey(string(r.Key)), Size: recordBytes(r), Limit: p.MaxRecordBytes(r.Topic), Err: res.Err}
		}
	}
	if err := results.FirstErr(); err != nil {
		return fmt.Errorf("producing %d records: %w", len(recs), err)
	}
	return nil
}

// withTrace returns hs with each of trace whose name hs does not have, never modifying hs.
func withTrace(hs, trace []kgo.RecordHeader) []kgo.RecordHeader {
	for _, t := range trace {
		if !slices.ContainsFunc(hs, func(h kgo.RecordHeader) bool { return h.Key == t.Key }) {
			hs = append(slices.Clip(hs), t)
		}
	}
	return hs
}

// record encodes m into a record that fits its topic, shrinking a Shrinker value as needed.
func (p *Producer) record(m Message) (*kgo.Record, error) {
	r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Headers: m.Headers}
	if !m.Due.IsZero() {
		r.Headers = append(slices.Clip(r.Headers), due.At(m.Due))
	}
	limit := p.MaxRecordBytes(m.Topic)
	for v := m.Value; ; {
		var err error
		r.Value, err = p.codec.Encode(m.Topic, v)
		if err == nil && recordBytes(r) <= limit {
			return r, nil
		}
		s, ok := v.(Shrinker)
		if ok {
			v, ok = s.Shrink()
		}
		if ok {
			continue
		}
		if err != nil {
			return nil, &RejectedError{Topic: m.Topic, Key: clipKey(m.Key), Err: errors.Join(kerr.InvalidRecord, err)}
		}
		return nil, &RejectedError{Topic: m.Topic, Key: clipKey(m.Key), Size: recordBytes(r), Limit: limit, Err: kerr.MessageTooLarge}
	}
}

// RequestOrder publishes an order request to the requests topic, keyed by order id.
func (p *Producer) RequestOrder(ctx context.Context, o schemas.OrderRequested) error {
	if o.OrderID == "" {
		return errors.New("producer: order id is required")
	}
	if o.Attempt == 0 {
		o.Attempt = 1
	}
	if o.RequestedAt.IsZero() {
		o.RequestedAt = time.Now()
	}
	return p.Send(ctx, Message{Topic: p.topo.Requests(), Key: o.OrderID, Value: o})
}

// Close flushes and closes the client.
func (p *Producer) Close() { p.cl.Close() }
