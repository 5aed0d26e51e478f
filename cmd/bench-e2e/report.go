package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/orderflow/orderflow/internal/bench"
	"github.com/orderflow/orderflow/provider"
)

// report is everything one run measured; print writes it.
type report struct {
	o                        options
	stack                    string
	prefix                   string // the run's topic prefix
	loaded                   time.Duration
	started, readyAt, doneAt time.Time
	cpu                      []bench.Sample
	peakRSS                  int64 // the largest instance's
	peakRSSSum               int64 // every instance's peak, added
	metrics                  bench.Metrics
	http                     counts
	topics                   []topicCount
	requestsWritten          int64 // records orderflow itself wrote to the requests topic
	placed                   []time.Time
	latencies                []time.Duration
	byOutcome                map[string]int
	bare                     *bareResult
	bareHTTP                 counts
	// redisServer and bareServer are INFO commandstats deltas (nil: the server reports none).
	redisServer, bareServer map[string]int64
}

func (r *report) print(w io.Writer) {
	o := r.o
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	mix := "plain Rye"
	if o.drShare > 0 {
		mix = fmt.Sprintf("plain Rye, %.0f%% plain Digital River", o.drShare*100)
	}
	p("== bench-e2e: %d orders (%s), %d partitions, provider latency %v", o.orders, mix, o.partitions, o.latency)
	p("stack: %s; sandbox in the bench process", r.stack)
	p("orderflow: %d × %s run, each its own process; CPU = utime+stime of /proc/PID/stat (10 ms ticks) sampled every %v (instances added), peak RSS = VmHWM", o.instances, o.bin, sampleEvery)
	if o.sendRate > 0 {
		p("orders: sent at %g/s after orderflow was ready", o.sendRate)
	} else {
		p("orders: loaded before orderflow started (%.2fs); send→terminal includes the time queued", r.loaded.Seconds())
	}
	p("run: ready %.2fs after start, last terminal %.2fs after start", r.readyAt.Sub(r.started).Seconds(), r.doneAt.Sub(r.started).Seconds())
	finished := 0
	for _, n := range r.byOutcome {
		finished += n
	}
	p("outcomes: %d of %d terminal: %s", finished, o.orders, joinCounts(r.byOutcome))

	placed := len(r.placed)
	per := placed
	if per == 0 {
		per = finished
	}
	win := bench.Steady(r.placed, o.lo, o.hi)
	low, med, high := bench.Buckets(r.placed, win)
	p("")
	p("placed orders/s      %8.1f   steady window: placed orders of rank %.0f%%..%.0f%% (%d over %.2fs); per second in it min/median/max %d/%d/%d",
		win.Rate(), o.lo*100, o.hi*100, win.Events, win.Duration().Seconds(), low, med, high)
	p("send→terminal        p50 %v  p99 %v", bench.Percentile(r.latencies, 50).Round(time.Millisecond), bench.Percentile(r.latencies, 99).Round(time.Millisecond))
	total := bench.Between(r.cpu, r.started, r.doneAt)
	winCPU := bench.Between(r.cpu, win.Start, win.End)
	p("orderflow CPU        %8.3f ms/placed order in the window (%.0f%% of a core); %.3f ms/placed order over the whole run (%.2fs CPU, startup included)",
		bench.PerOrder(winCPU*1000, win.Events), 100*bench.Ratio(winCPU, win.Duration().Seconds()), bench.PerOrder(total*1000, per), total)
	if o.instances > 1 {
		p("peak RSS             %8.1f MiB the largest instance, %.1f MiB all %d added", float64(r.peakRSS)/(1<<20), float64(r.peakRSSSum)/(1<<20), o.instances)
	} else {
		p("peak RSS             %8.1f MiB", float64(r.peakRSS)/(1<<20))
	}
	trips, cmds := r.metrics.Sum("orderflow_redis_round_trips_total", "kind", "command"), r.metrics.Sum("orderflow_redis_commands_total", "kind", "command")
	hs := r.metrics.Sum("orderflow_redis_round_trips_total", "kind", "handshake")
	p("Redis                %8.2f round trips/placed order, %.2f commands/placed order (orderflow's go-redis hook; a script call is one command); connection handshakes apart: %.2f round trips/placed order",
		bench.PerOrder(trips, per), bench.PerOrder(cmds, per), bench.PerOrder(hs, per))
	p("  at the server      %s", serverStats(r.redisServer, per))
	h := r.http
	p("HTTP at the sandbox  %8.2f requests/placed order, %.2f new TCP connections/placed order, %d answered 429", bench.PerOrder(float64(len(h.reqs)), per),
		bench.PerOrder(float64(h.newConns), per), h.withStatus(429))
	p("  by operation       %s", perOrder(h.byOp(), per))
	calls := r.metrics.By("orderflow_provider_calls_total", "operation")
	p("  orderflow's count  %s (orderflow_provider_calls_total)", perOrderF(calls, per))
	// Only the tracker calls Status in orderflow: its polls are the status operation.
	p("tracker polls        %8.2f per placed order (orderflow_provider_calls_total{operation=%q}); CheckoutByCartID at the sandbox %.2f",
		bench.PerOrder(calls[provider.OpStatus], per), provider.OpStatus, bench.PerOrder(float64(h.byOp()["CheckoutByCartID"]), per))
	if waits := r.metrics.By("orderflow_ratelimit_waits_total", "tier"); len(waits) > 0 {
		secs := r.metrics.By("orderflow_ratelimit_wait_seconds_total", "tier")
		p("  rate-limit waits   %s; seconds waited %s", perOrderF(waits, per), joinF(secs))
	}
	var recs, bytes int64
	var parts []string
	for _, t := range r.topics {
		recs += t.records
		bytes += t.bytes
		parts = append(parts, fmt.Sprintf("%s %.2f (%.0f B)", strings.TrimPrefix(t.topic, r.prefix), bench.PerOrder(float64(t.records), per),
			bench.PerOrder(float64(t.bytes), per)))
	}
	p("Kafka written        %8.2f records/placed order, %.0f bytes/placed order (key+value+headers), by topic: %s; %d records to requests",
		bench.PerOrder(float64(recs), per), bench.PerOrder(float64(bytes), per), strings.Join(parts, ", "), r.requestsWritten)
	if o.rateLimit > 0 {
		r.printRateLimit(p)
	}
	if b := r.bare; b != nil {
		bw := bench.Steady(b.done, o.lo, o.hi)
		bh := r.bareHTTP
		n := len(b.done)
		p("")
		p("bare loop            %8.1f orders/s (same window ranks; %d orders in %.2fs, %d in flight): Acquire + Transition (Lua) on the idempotency store, createCart, submitCart, checkoutByCartID through the Rye client, pooled keep-alive connections, no Kafka",
			bw.Rate(), n, b.elapsed.Seconds(), b.concurrency)
		p("  per order          %.2f Redis round trips (%.2f commands; handshakes apart: %.2f round trips), %.2f HTTP requests, %.2f new TCP connections",
			bench.PerOrder(float64(b.redisTrips), n), bench.PerOrder(float64(b.redisCmds), n), bench.PerOrder(float64(b.handshakes), n), bench.PerOrder(float64(len(bh.reqs)), n), bench.PerOrder(float64(bh.newConns), n))
		p("  Redis at the server %s", serverStats(r.bareServer, n))
		p("orderflow / bare     %8.2f (placed orders/s over bare orders/s)", bench.Ratio(win.Rate(), bw.Rate()))
	}
}

// printRateLimit reports the rate-limit mode: the strict tier's accepted requests per second at
// the sandbox against the limit, the 429s, and orderflow's CPU while the orders wait.
func (r *report) printRateLimit(p func(string, ...any)) {
	var ok, limited []time.Time
	for _, q := range r.http.reqs {
		if !strictOps[q.op] {
			continue
		}
		if q.status == 429 {
			limited = append(limited, q.at)
		} else {
			ok = append(ok, q.at)
		}
	}
	p("")
	if len(ok) < 2 {
		p("rate limit           fewer than two strict-tier requests accepted")
		return
	}
	w := bench.Steady(ok, r.o.lo, r.o.hi) // the same window ranks: the limiter's first burst left out
	late := 0
	for _, t := range limited {
		if t.Sub(ok[0]) > time.Second {
			late++
		}
	}
	cpu := bench.Between(r.cpu, r.readyAt, r.doneAt)
	dur := r.doneAt.Sub(r.readyAt).Seconds()
	p("rate limit           strict tier (createCart, submitCart) accepted %.2f/s at the sandbox (requests of rank %.0f%%..%.0f%%, over %.1fs) = %.1f%% of the limit %g/s",
		w.Rate(), r.o.lo*100, r.o.hi*100, w.Duration().Seconds(), 100*bench.Ratio(w.Rate(), r.o.rateLimit), r.o.rateLimit)
	p("  429s               %d in all, %d more than 1s after the first accepted strict request", len(limited), late)
	p("  orderflow CPU      %.1f ms per second while orders wait (%.1f%% of a core, from ready to the last terminal)", 1000*bench.Ratio(cpu, dur), 100*bench.Ratio(cpu, dur))
}

func joinCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func joinF(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func perOrder(m map[string]int, n int) string {
	f := map[string]float64{}
	for k, v := range m {
		f[k] = float64(v)
	}
	return perOrderF(f, n)
}

func perOrderF(m map[string]float64, n int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, bench.PerOrder(m[k], n)))
	}
	return strings.Join(parts, ", ")
}

// serverStats formats INFO commandstats deltas per order: the total and the commands above
// 0.05 per order, most first.
func serverStats(d map[string]int64, n int) string {
	if d == nil {
		return "INFO commandstats not available (miniredis)"
	}
	var total int64
	keys := slices.Collect(maps.Keys(d))
	for _, k := range keys {
		total += d[k]
	}
	slices.SortFunc(keys, func(a, b string) int { return int(d[b] - d[a]) })
	var parts []string
	for _, k := range keys {
		if v := bench.PerOrder(float64(d[k]), n); v >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, v))
		}
	}
	return fmt.Sprintf("%.2f commands/order as Redis counts them (INFO commandstats; scripts' inner calls included): %s",
		bench.PerOrder(float64(total), n), strings.Join(parts, ", "))
}
