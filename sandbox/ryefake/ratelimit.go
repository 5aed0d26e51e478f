package ryefake

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate-limit tiers, as Rye names them in the Ratelimit-Tier header (DOCS
// docs.rye.com/api-reference/ratelimits: "Default", "Strict"; later docs also list "Moderate"
// and "Elevated", which no operation of this schema subset is in).
const (
	TierStrict  = "Strict"
	TierDefault = "Default"
)

// unlimitedReport is what the Ratelimit-Limit and Ratelimit-Remaining headers say for a tier
// configured as unlimited, so that every response still carries the headers. Sandbox-only:
// real Rye always has a limit.
const unlimitedReport = math.MaxInt32

// limiters holds one token bucket per (API key, tier). Burst is the per-second rate rounded
// up, so a client may spend one second's budget at once, as per-second limits allow.
// The headers are DOCS (ratelimits): Ratelimit-Limit, Ratelimit-Remaining, Ratelimit-Reset,
// Ratelimit-Tier.
type limiters struct {
	strict, def float64 // negative: unlimited
	resetEpoch  bool
	retryAfter  bool
	mu          sync.Mutex
	m           map[string]*rate.Limiter
}

func newLimiters(cfg Config) *limiters {
	return &limiters{strict: cfg.StrictRPS, def: cfg.DefaultRPS, resetEpoch: cfg.ResetEpoch,
		retryAfter: cfg.RetryAfter, m: map[string]*rate.Limiter{}}
}

// allow takes one token from key's bucket of tier and sets the Ratelimit-* headers on h.
// It reports whether the request is within the limit.
func (l *limiters) allow(key, tier string, h http.Header, now time.Time) bool {
	rps := l.def
	if tier == TierStrict {
		rps = l.strict
	}
	h.Set("Ratelimit-Tier", tier)
	if rps < 0 {
		h.Set("Ratelimit-Limit", strconv.Itoa(unlimitedReport))
		h.Set("Ratelimit-Remaining", strconv.Itoa(unlimitedReport))
		h.Set("Ratelimit-Reset", l.reset(now, 0))
		return true
	}
	burst := int(math.Ceil(rps))
	l.mu.Lock()
	lim, ok := l.m[key+"\x00"+tier]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(rps), burst)
		l.m[key+"\x00"+tier] = lim
	}
	l.mu.Unlock()

	allowed := lim.AllowN(now, 1)
	tokens := lim.TokensAt(now)
	remaining := max(int(math.Floor(tokens)), 0)
	// The window "resets" when at least one token is available again (now, when one is).
	var wait time.Duration
	if tokens < 1 {
		wait = time.Duration((1 - tokens) / rps * float64(time.Second))
	}
	h.Set("Ratelimit-Limit", strconv.Itoa(burst))
	h.Set("Ratelimit-Remaining", strconv.Itoa(remaining))
	h.Set("Ratelimit-Reset", l.reset(now, wait))
	if !allowed && l.retryAfter {
		// Retry-After is not documented for Rye: only with Config.RetryAfter.
		h.Set("Retry-After", strconv.Itoa(max(ceilSeconds(wait), 1)))
	}
	return allowed
}

// reset formats Ratelimit-Reset: whole seconds until the reset (default), or the Unix epoch
// second of the reset, rounded up (Config.ResetEpoch). See Config.ResetEpoch for why both.
func (l *limiters) reset(now time.Time, wait time.Duration) string {
	if l.resetEpoch {
		at := now.Add(wait)
		sec := at.Unix()
		if at.Nanosecond() > 0 {
			sec++
		}
		return strconv.FormatInt(sec, 10)
	}
	return strconv.Itoa(ceilSeconds(wait))
}

func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
