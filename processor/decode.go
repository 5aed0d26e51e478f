package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/schemas"
)

// decoding adapts a role's handler of one decoded record value (T) to consumer.Handler, doing
// what every role does first: decode the record's value (decode, a schemas.Codec method, run on
// cfg.Codec). A value that is not a valid record of T's schema (schemas.ErrUndecodable) can
// never be handled: it is marked consumer.Permanent as "decoding <what>: <why>", and the engine
// dead-letters the record with that reason and its raw bytes (DeadLetterer: rule
// unprocessable-record, action fix-record). Any other decode error (the registry unreachable)
// is transient: the record is retried. handle runs only with a decoded value.
type decoding[T any] struct {
	cfg    *Config
	what   string
	decode func(c *schemas.Codec, ctx context.Context, b []byte) (T, error)
	handle func(ctx context.Context, r *kgo.Record, v T) error
}

// Handle decodes r's value and hands it to the role.
func (d decoding[T]) Handle(ctx context.Context, r *kgo.Record) error {
	v, err := d.decode(d.cfg.Codec, ctx, r.Value)
	if errors.Is(err, schemas.ErrUndecodable) {
		return consumer.Permanent(fmt.Errorf("decoding %s: %w", d.what, err))
	}
	if err != nil {
		return err
	}
	return d.handle(ctx, r, v)
}
