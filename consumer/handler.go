package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/due"
	"github.com/orderflow/orderflow/internal/backoff"
)

// Handler processes one record.
//
// Error contract: nil means the record's effects are complete (events produced and
// acknowledged) and its offset may be committed. An error wrapped with Permanent means the
// record can never be processed (for example it does not decode): the engine passes it to
// Config.DeadLetter and moves on once that succeeds. Any other error is transient (Redis
// down, a produce failed): the engine retries the same record with capped, jittered
// exponential backoff, holding back later records of the same key and the partition's commit.
// Handlers must be idempotent: a record may be delivered again after a crash or rebalance.
type Handler interface {
	Handle(ctx context.Context, r *kgo.Record) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *kgo.Record) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, r *kgo.Record) error { return f(ctx, r) }

// DeadLetterFunc parks a record that can never be processed, with the reason. It must not
// return before the dead letter is durably stored (produce acknowledged).
type DeadLetterFunc func(ctx context.Context, r *kgo.Record, reason error) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the record goes to the dead-letter path.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// process applies the Handler contract to one record: it runs the handler until the record is
// finished (true) or its partition's context ends (false: abandoned, never committed).
func (c *Consumer) process(e *entry) bool {
	ctx := e.p.ctx
	start := time.Now()
	ready := e.r.Timestamp
	if at := due.Of(e.r); at.After(ready) {
		ready = at
	}
	c.metrics.wait.WithLabelValues(e.r.Topic).Observe(max(0, start.Sub(ready).Seconds()))
	b := backoff.New(c.cfg.RetryBase, c.cfg.RetryMax)
	outcome := "ok"
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		err := c.h.Handle(ctx, e.r)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return err
		case IsPermanent(err):
			outcome = "dead_lettered"
			if dlErr := c.cfg.DeadLetter(ctx, e.r, err); dlErr != nil {
				c.cfg.Logger.Error("dead-lettering record", "topic", e.r.Topic, "partition", e.r.Partition, "offset", e.r.Offset, "err", dlErr)
				return retry.RetryableError(dlErr)
			}
			return nil
		default:
			c.metrics.records.WithLabelValues(e.r.Topic, "retried").Inc()
			c.cfg.Logger.Warn("handler failed, retrying", "topic", e.r.Topic, "partition", e.r.Partition, "offset", e.r.Offset, "err", err)
			return retry.RetryableError(err)
		}
	})
	if err != nil {
		c.metrics.records.WithLabelValues(e.r.Topic, "abandoned").Inc()
		return false
	}
	c.metrics.records.WithLabelValues(e.r.Topic, outcome).Inc()
	c.metrics.latency.WithLabelValues(e.r.Topic).Observe(time.Since(start).Seconds())
	return true
}
