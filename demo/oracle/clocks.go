package oracle

import (
	"time"

	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/topology"
)

// Clocks are the roles' timers and retry tiers scaled down from the seeds' (poll 2s, never
// started after 5m, stuck after 10m, a 3-D Secure challenge abandoned after 1h), so every
// scenario ends in seconds. Each preset keeps the scenarios' order: a retry tier and a poll are
// shorter than never-started, which is shorter than stuck.
type Clocks struct {
	PollInterval, NeverStartedAfter, StuckAfter, ActionTimeout time.Duration
	// RetryBase and RetryMax shape the in-process retry backoff; zero keeps the processor's.
	RetryBase, RetryMax time.Duration
	// Tiers are the reconciler's retry delay tiers.
	Tiers []topology.Tier
}

// The presets: one per kind of run, side by side so their differences show.
var (
	// Demo is `orderflow run` on the embedded stack: the seeds' clocks 150x faster (never
	// started after 2s, stuck after 4s, a challenge abandoned after 24s), tiers 0.5s, 2s, 5s.
	Demo = Clocks{PollInterval: 200 * time.Millisecond, NeverStartedAfter: 2 * time.Second, StuckAfter: 4 * time.Second,
		ActionTimeout: 24 * time.Second, Tiers: tiers(500*time.Millisecond, 2*time.Second, 5*time.Second)}
	// Chaos is `make chaos` (the defaults of its flags): Demo with never-started and stuck
	// 1.5x longer, as role processes are killed and restarted and the broker is down for
	// seconds, and a challenge abandoned after 8s; tiers 0.5s, 2s.
	Chaos = Clocks{PollInterval: 200 * time.Millisecond, NeverStartedAfter: 3 * time.Second, StuckAfter: 6 * time.Second,
		ActionTimeout: 8 * time.Second, Tiers: tiers(500*time.Millisecond, 2*time.Second)}
	// Test is the end-to-end suite: as fast as the embedded stack allows (never started after
	// 500ms, stuck after 1s, a challenge abandoned after 2s, in-process retries from 10ms to
	// 50ms), tiers "fast" 100ms and "slow" 300ms.
	Test = Clocks{PollInterval: 50 * time.Millisecond, NeverStartedAfter: 500 * time.Millisecond, StuckAfter: time.Second,
		ActionTimeout: 2 * time.Second, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		Tiers: []topology.Tier{{Name: "fast", Delay: 100 * time.Millisecond}, {Name: "slow", Delay: 300 * time.Millisecond}}}
)

// tiers names each tier by its delay ("500ms").
func tiers(delays ...time.Duration) []topology.Tier {
	out := make([]topology.Tier, len(delays))
	for i, d := range delays {
		out[i] = topology.Tier{Name: d.String(), Delay: d}
	}
	return out
}

// Processor returns the processor settings of c; the rest stays at the processor's defaults.
func (c Clocks) Processor() processor.Settings {
	return processor.Settings{PollInterval: c.PollInterval, NeverStartedAfter: c.NeverStartedAfter, StuckAfter: c.StuckAfter,
		ActionTimeout: c.ActionTimeout, RetryBase: c.RetryBase, RetryMax: c.RetryMax}
}

// Delays returns the tiers' delays, in order.
func (c Clocks) Delays() []time.Duration {
	out := make([]time.Duration, len(c.Tiers))
	for i, t := range c.Tiers {
		out[i] = t.Delay
	}
	return out
}
