// Package producer writes orderflow's Avro records to Kafka in the Confluent wire format.
// Upstream services use it to request orders; orderflow's roles use it for every event.
//
// Send returns only when every record is acknowledged by the broker (acks=all, idempotent
// producer), so a caller that commits its input after Send never loses an effect.
package producer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// Config configures a Producer.
type Config struct {
	// Brokers to bootstrap from. Required.
	Brokers []string
	// Registry is the schema registry client (Confluent API). Required.
	Registry *sr.Client
	// Topology names the topics and their schemas. Default topology.Default().
	Topology topology.Topology
	// Opts are extra franz-go client options.
	Opts []kgo.Opt
}

// Producer sends orderflow records. It is safe for concurrent use.
type Producer struct {
	cl    *kgo.Client
	codec *schemas.Codec
	topo  topology.Topology
}

// Message is one record to send. Key is the order id. A non-zero Due holds the record back
// from the consumer until then (see consumer.DueHeader).
type Message struct {
	Topic   string
	Key     string
	Value   schemas.Record
	Due     time.Time
	Headers []kgo.RecordHeader
}

// New connects and registers every topic's schema with the registry.
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if len(cfg.Brokers) == 0 || cfg.Registry == nil {
		return nil, errors.New("producer: brokers and registry are required")
	}
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	codec := schemas.NewCodec(cfg.Registry)
	for topic, name := range cfg.Topology.Schemas() {
		if _, err := codec.Register(ctx, topic, name); err != nil {
			return nil, err
		}
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), // murmur2, like the Java client
	}, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating producer client: %w", err)
	}
	return &Producer{cl: cl, codec: codec, topo: cfg.Topology}, nil
}

// Codec returns the codec with every topic's schema registered.
func (p *Producer) Codec() *schemas.Codec { return p.codec }

// Client returns the underlying franz-go client.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Send encodes and produces msgs and waits until all are acknowledged.
func (p *Producer) Send(ctx context.Context, msgs ...Message) error {
	recs := make([]*kgo.Record, 0, len(msgs))
	for _, m := range msgs {
		b, err := p.codec.Encode(m.Topic, m.Value)
		if err != nil {
			return err
		}
		r := &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: b, Headers: m.Headers}
		if !m.Due.IsZero() {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: consumer.DueHeader, Value: []byte(strconv.FormatInt(m.Due.UnixMilli(), 10))})
		}
		recs = append(recs, r)
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("producing %d records: %w", len(recs), err)
	}
	return nil
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
