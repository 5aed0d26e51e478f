package processor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/tracecontext"
)

// ActionFixRecord is the dead-letter action of a record that could not be processed at all.
const ActionFixRecord = "fix-record"

// Rules of the engine's dead letters.
const (
	RuleUnprocessable  = "unprocessable-record"
	RuleRecordRejected = "record-rejected" // an effect of the record could never be produced
	RuleHandlerPanic   = "handler-panic"   // the handler panicked (consumer.Recover)
)

// deadLetterTries bounds how often DeadLetterer produces one dead letter that the producer
// rejects: each broker refusal makes the producer learn the topic's limit and shrink further.
const deadLetterTries = 3

// DeadLetterer returns the engine's dead-letter path: a record a handler marked Permanent
// (undecodable, a conflicting duplicate, or a record whose effects could never be produced) is
// kept in the dead-letter topic with the reason, and the partition moves on.
//
// The dead letter holds the raw key and value and, when the record decodes (as a request, a
// tracking record or a failure event), the request; the producer shrinks it to fit the topic
// (schemas.DeadLetter.Shrink: the raw bytes first, replaced by their size and SHA-256). A
// record whose handler could not produce its effects (producer.ErrRejected) is dead-lettered
// with rule record-rejected and action investigate: its order may be under way; so is a record
// whose handler panicked (consumer.ErrPanic, rule handler-panic). When even the
// smallest dead letter is rejected, the record is escalated: logged at error level with its
// source offset and digest, and the partition moves on (retrying could only block it forever).
func DeadLetterer(cfg *Config) consumer.DeadLetterFunc {
	return func(ctx context.Context, r *kgo.Record, reason error) error {
		ctx = tracecontext.With(ctx, r) // the dead letter carries r's trace context headers too
		dl := schemas.DeadLetter{
			DeadLetterID: fmt.Sprintf("raw/%s/%d/%d", r.Topic, r.Partition, r.Offset),
			Reason:       reason.Error(), Action: ActionFixRecord, Rule: RuleUnprocessable,
			SourceTopic: r.Topic, SourcePartition: r.Partition, SourceOffset: r.Offset,
			RawKey: r.Key, RawValue: r.Value, TraceContext: traceContext(r), At: cfg.Now().UTC(),
		}
		switch {
		case errors.Is(reason, producer.ErrRejected):
			dl.Rule, dl.Action = RuleRecordRejected, string(provider.ActionInvestigate)
		case errors.Is(reason, consumer.ErrPanic):
			// A bug, not a bad record; the order may be under way: a person looks first.
			dl.Rule, dl.Action = RuleHandlerPanic, string(provider.ActionInvestigate)
		}
		if dl.RawKey == nil {
			dl.RawKey = []byte{}
		}
		if dl.RawValue == nil {
			dl.RawValue = []byte{}
		}
		if req, ok := requestOf(ctx, cfg.Codec, r.Value); ok {
			dl.OrderID, dl.Attempt, dl.Provider, dl.Request = req.OrderID, req.Attempt, req.Provider, &req
		}
		key := dl.OrderID
		if key == "" || len(key) > MaxIDBytes {
			key = string(r.Key)
		}
		if len(key) > MaxIDBytes {
			key = "sha256:" + digest(r.Key)
		}
		cfg.Logger.Warn("dead-lettering an unprocessable record", "order_id", clipped(dl.OrderID), "attempt", dl.Attempt, "rule", dl.Rule,
			"action", dl.Action, "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
		var err error
		for range deadLetterTries {
			msg := producer.Message{Topic: cfg.Topology.DLQ(), Key: key, Value: dl}
			if err = cfg.Events.Send(ctx, msg); !errors.Is(err, producer.ErrRejected) {
				if err == nil {
					cfg.Metrics.sent(cfg, []producer.Message{msg})
				}
				return err
			}
		}
		cfg.Logger.Error("escalating: the record can not even be dead-lettered; moving on",
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "order_id", clipped(dl.OrderID),
			"value_bytes", len(r.Value), "value_sha256", digest(r.Value), "reason", reason, "err", err)
		return nil
	}
}

// requestOf decodes the order request a record carries: the record itself, or the request
// inside a tracking record or a failure event.
func requestOf(ctx context.Context, c *schemas.Codec, b []byte) (schemas.OrderRequested, bool) {
	if req, err := c.DecodeOrderRequested(ctx, b); err == nil {
		return req, true
	}
	if t, err := c.DecodeTracking(ctx, b); err == nil && t.Request.OrderID != "" {
		return t.Request, true
	}
	if f, err := c.DecodeOrderFailure(ctx, b); err == nil && f.Request.OrderID != "" {
		return f.Request, true
	}
	return schemas.OrderRequested{}, false
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
