package processor

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
)

// ActionFixRecord is the dead-letter action of a record that could not be processed at all.
const ActionFixRecord = "fix-record"

// DeadLetterer returns the engine's dead-letter path: a record a handler marked Permanent
// (undecodable, or a conflicting duplicate) is kept whole in the dead-letter topic with the
// reason, and the partition moves on.
func DeadLetterer(cfg *Config) consumer.DeadLetterFunc {
	return func(ctx context.Context, r *kgo.Record, reason error) error {
		dl := schemas.DeadLetter{
			DeadLetterID: fmt.Sprintf("raw/%s/%d/%d", r.Topic, r.Partition, r.Offset),
			Reason:       reason.Error(), Action: ActionFixRecord, Rule: "unprocessable-record",
			SourceTopic: r.Topic, SourcePartition: r.Partition, SourceOffset: r.Offset,
			RawKey: r.Key, RawValue: r.Value, TraceContext: traceContext(r), At: cfg.Now().UTC(),
		}
		if dl.RawKey == nil {
			dl.RawKey = []byte{}
		}
		if dl.RawValue == nil {
			dl.RawValue = []byte{}
		}
		if req, err := cfg.Codec.DecodeOrderRequested(ctx, r.Value); err == nil {
			dl.OrderID, dl.Attempt, dl.Provider, dl.Request = req.OrderID, req.Attempt, req.Provider, &req
		}
		cfg.Logger.Warn("dead-lettering an unprocessable record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
		return cfg.Events.Send(ctx, producer.Message{Topic: cfg.Topology.DLQ(), Key: string(r.Key), Value: dl})
	}
}
