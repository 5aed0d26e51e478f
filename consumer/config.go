package consumer

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config configures a Consumer. New fills the defaults of unset (zero or negative) fields and
// then validates it.
type Config struct {
	// Brokers to bootstrap from. Required.
	Brokers []string
	// Group is the consumer group id. Required.
	Group string
	// Topics to consume. Required.
	Topics []string
	// MaxInFlight caps records taken from Kafka and not yet finished, held delay records and
	// the records of their keys waiting behind them included. When reached, the engine stops
	// polling. Default DefaultMaxInFlight.
	MaxInFlight int
	// RevokeTimeout bounds how long a revoke or shutdown waits for accepted records of the
	// revoked partitions; it must stay below the group's rebalance timeout (kgo default 60s).
	// Default 10s.
	RevokeTimeout time.Duration
	// CommitInterval is how often finished offsets are committed. Default 500ms.
	CommitInterval time.Duration
	// RetryBase and RetryMax shape the backoff for transient handler errors. Defaults 50ms, 5s.
	RetryBase, RetryMax time.Duration
	// FetchMaxWait bounds how long a fetch waits at the broker for records to arrive. A
	// partition resumed after its held records were released (a delay topic's, consumer
	// gates.go) is fetched only when the fetch in flight returns, so this is also about the
	// longest a due record's partition waits to be fetched again. Default 200ms: franz-go's
	// own 5s held the tracker's due polls back in waves (make bench-e2e-real: nothing placed for
	// 2-4 s, then a burst; 0.15 of the bare loop, 0.38 with 200ms). An idle consumer sends
	// one fetch per broker per FetchMaxWait.
	FetchMaxWait time.Duration
	// LagInterval is how often the lag gauge (orderflow_consumer_lag) is refreshed: the
	// committed lag of every partition this member owns, from the brokers' end offsets and the
	// group's committed offsets. Only with a Registerer. Default 5s.
	LagInterval time.Duration
	// DeadLetter receives records whose handler returned a Permanent error. Required.
	DeadLetter DeadLetterFunc
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the engine's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Opts are extra franz-go client options (TLS, SASL, session timeouts, balancers...). The
	// options the engine depends on (group, topics, manual commits, rebalance callbacks,
	// BlockRebalanceOnPoll) are applied after them and can not be overridden.
	Opts []kgo.Opt
}

// DefaultMaxInFlight is Config.MaxInFlight when it is 0.
const DefaultMaxInFlight = 1000

// withDefaults returns c with every unset field at its documented default.
func (c Config) withDefaults() Config {
	orDefault(&c.MaxInFlight, DefaultMaxInFlight)
	orDefault(&c.RevokeTimeout, 10*time.Second)
	orDefault(&c.CommitInterval, 500*time.Millisecond)
	orDefault(&c.RetryBase, 50*time.Millisecond)
	orDefault(&c.RetryMax, 5*time.Second)
	orDefault(&c.LagInterval, 5*time.Second)
	orDefault(&c.FetchMaxWait, 200*time.Millisecond)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// orDefault sets *v to def unless *v is positive.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Validate reports the first required field c lacks. It does not change c: defaults are
// New's (unset durations and counts are never an error).
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("consumer: no brokers")
	case c.Group == "":
		return errors.New("consumer: no group")
	case len(c.Topics) == 0:
		return errors.New("consumer: no topics")
	case c.DeadLetter == nil:
		return errors.New("consumer: no dead-letter func")
	}
	return nil
}
