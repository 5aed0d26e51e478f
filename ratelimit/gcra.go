package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
)

// The state of one limit is one Redis key holding its theoretical arrival time (TAT, GCRA's
// name): the earliest moment, in microseconds of the Redis server's clock, at which the next
// call may go. Every reservation moves it on by one emission interval (1/rate); a provider's
// 429 moves it to the end of the provider's block. So a limited call reads the block for free,
// in the one script that reserves its slot, and the server's clock is the only clock: callers
// get back how long to sleep, never a time to compare with their own.
//
// There is no burst: slots are at least one interval apart, so no window of one second ever
// holds more than the rate's calls, whichever way the provider counts its windows.

// reserveScript reserves the next slots, one per waiter, in order: KEYS[1] the TAT; ARGV[1] the
// emission interval and ARGV[2..] each waiter's longest acceptable wait (negative: any), all in
// µs. It returns {reserved (1|0), wait µs, slot µs} per waiter: a slot further than its waiter's
// longest wait is not reserved (and goes to the next waiter), so a caller that could not use it
// spends nothing. One call reserves for every waiter of a batch (Limiter.flush).
var reserveScript = redis.NewScript(reserveScriptSource)

const reserveScriptSource = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local iv = tonumber(ARGV[1])
local out = {}
local any = false
for i = 2, #ARGV do
  local wait = slot - now
  local maxwait = tonumber(ARGV[i])
  if maxwait >= 0 and wait > maxwait then
    out[#out+1] = 0
  else
    out[#out+1] = 1
    any = true
  end
  out[#out+1] = wait
  out[#out+1] = slot
  if out[#out-2] == 1 then slot = slot + iv end
end
if any then
  redis.call('SET', KEYS[1], string.format('%.0f', slot), 'PX', math.floor((slot - now) / 1000) + 1000)
end
return out`

// blockScript moves the TAT of KEYS[1] to at least ARGV[1] µs from now (a provider's block);
// it returns the µs left until the TAT.
var blockScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local untl = now + tonumber(ARGV[1])
if tat < untl then
  tat = untl
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
end
return tat - now`)

// leftScript returns the µs left until the TAT of KEYS[1] (0: none): the block an unlimited
// tier honours.
var leftScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then return 0 end
return tat - now`)

// reservation is reserveScript's answer for one waiter.
type reservation struct {
	reserved bool
	wait     time.Duration
	slot     int64 // µs of the Redis server's clock
}

// reserve runs reserveScript on key for waiters with these longest waits (< 0: any), in order:
// one Redis call whatever their number.
func (l *Limiter) reserve(ctx context.Context, key string, interval time.Duration, maxWaits []time.Duration) ([]reservation, error) {
	args := make([]any, 0, 1+len(maxWaits))
	args = append(args, interval.Microseconds())
	for _, mw := range maxWaits {
		us := int64(-1)
		if mw >= 0 {
			us = mw.Microseconds()
		}
		args = append(args, us)
	}
	v, err := reserveScript.Run(ctx, l.rdb, []string{l.prefix + key}, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("rate limiting %s: %w", key, err)
	}
	if len(v) != 3*len(maxWaits) {
		return nil, fmt.Errorf("rate limiting %s: the script answered %v for %d waiters", key, v, len(maxWaits))
	}
	out := make([]reservation, len(maxWaits))
	for i := range out {
		out[i] = reservation{reserved: v[3*i] == 1, wait: time.Duration(v[3*i+1]) * time.Microsecond, slot: v[3*i+2]}
	}
	return out, nil
}

// headroom widens every interval by this fraction. Slots are spaced on Redis's clock, but the
// provider counts arrivals on its own: a call woken a little late followed by one on time
// arrives less than an interval after it, and a provider that allows no burst (Rye's strict
// tier is 1 request per second; the sandbox's bucket holds one token) answers 429, which then
// blocks every instance until the reset. Measured with make bench-e2e -rate-limit 1 (1,000
// orders queued at the 1/s strict tier): exact spacing drew 44 429s in 120 s (65.6 % of the
// limit achieved), 0.5 % (5 ms) 3, 1 % (10 ms) none, for 99.0 % of the limit.
const headroom = 0.01

// interval is the emission interval of perSecond (> 0) with headroom, in whole microseconds
// (the script's unit), rounded up, at least 1µs.
func interval(perSecond float64) time.Duration {
	us := math.Ceil(1e6 * (1 + headroom) / perSecond)
	return max(time.Duration(us)*time.Microsecond, time.Microsecond)
}

// LoadScripts puts the limiter's scripts into Redis's script cache, so the calls in flight at a
// busy start run EVALSHA at once instead of each falling back to EVAL (see
// idempotency.Store.LoadScripts).
func (l *Limiter) LoadScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{reserveScript, blockScript, leftScript} {
		if err := sc.Load(ctx, l.rdb).Err(); err != nil {
			return fmt.Errorf("loading the rate-limit scripts: %w", err)
		}
	}
	return nil
}
