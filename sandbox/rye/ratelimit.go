package rye

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate-limit tiers, as Rye names them in the Ratelimit-Tier header.
const (
	tierStrict  = "strict"
	tierDefault = "default"
)

// unlimitedReport is what the Ratelimit-Limit and Ratelimit-Remaining headers say for a tier
// configured as unlimited (rate 0), so that every response still carries the headers.
const unlimitedReport = math.MaxInt32

// limiters holds one token bucket per (API key, tier). Burst is the per-second rate rounded
// up, so a client may spend one second's budget at once, as Rye's per-second limits allow.
type limiters struct {
	strict, def float64
	mu          sync.Mutex
	m           map[string]*rate.Limiter
}

func newLimiters(strict, def float64) *limiters {
	return &limiters{strict: strict, def: def, m: map[string]*rate.Limiter{}}
}

// allow takes one token from key's bucket of tier and sets the Ratelimit-* headers on h.
// It reports whether the request is within the limit.
func (l *limiters) allow(key, tier string, h http.Header, now time.Time) bool {
	rps := l.def
	if tier == tierStrict {
		rps = l.strict
	}
	h.Set("Ratelimit-Tier", tier)
	if rps == 0 {
		h.Set("Ratelimit-Limit", strconv.Itoa(unlimitedReport))
		h.Set("Ratelimit-Remaining", strconv.Itoa(unlimitedReport))
		h.Set("Ratelimit-Reset", "0")
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
	// Reset: whole seconds until at least one token is available again (0 when one is).
	reset := 0
	if tokens < 1 {
		reset = int(math.Ceil((1 - tokens) / rps))
	}
	h.Set("Ratelimit-Limit", strconv.Itoa(burst))
	h.Set("Ratelimit-Remaining", strconv.Itoa(remaining))
	h.Set("Ratelimit-Reset", strconv.Itoa(reset))
	if !allowed {
		h.Set("Retry-After", strconv.Itoa(max(reset, 1)))
	}
	return allowed
}
