// Package backoff is orderflow's one retry backoff, so that every retry loop (the engine's
// transient handler errors, the worker's provider retries, startup while dependencies come up)
// waits alike: exponential, jittered, capped.
package backoff

import (
	"math/rand/v2"
	"time"

	"github.com/sethvargo/go-retry"
)

// JitterPercent is how far New and Jitter move a wait, either way.
const JitterPercent = 20

// New returns a fresh go-retry backoff: base, doubling with each try, each wait jittered by
// ±JitterPercent, at most max. It never stops by itself (add retry.WithMaxRetries or a context
// deadline). A backoff counts its tries: make one per operation.
func New(base, max time.Duration) retry.Backoff {
	return retry.WithCappedDuration(max, retry.WithJitterPercent(JitterPercent, retry.NewExponential(base)))
}

// Jitter returns d moved by up to ±JitterPercent, for waits that are not a sequence of tries
// (a delay tier, a wait derived from time already waited).
func Jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + float64(JitterPercent)/100*(2*rand.Float64()-1)))
}
