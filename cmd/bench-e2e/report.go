package main

import (
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/orderflow/orderflow/internal/bench"
)

// report is everything one run measured; print writes it.
type report struct {
	o                        options
	stack                    string
	prefix                   string // the run's topic prefix
	loaded                   time.Duration
	started, readyAt, doneAt time.Time
	cpu                      []bench.Sample
	machine                  *machine // every process's CPU, sampled through the run and the bare loop
	peakRSS                  int64    // the largest instance's
	peakRSSSum               int64    // every instance's peak, added
	metrics                  bench.Metrics
	http                     counts
	topics                   []topicCount
	requestsWritten          int64 // records orderflow itself wrote to the requests topic
	placed                   []time.Time
	latencies                []time.Duration
	byOutcome                map[string]int
	stages                   map[string][]time.Time
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
	p("  stages             %s", r.timeline())
	total := bench.Between(r.cpu, r.started, r.doneAt)
	winCPU := bench.Between(r.cpu, win.Start, win.End)
	p("orderflow CPU        %8.3f ms/placed order in the window (%.0f%% of a core); %.3f ms/placed order over the whole run (%.2fs CPU, startup included)",
		bench.PerOrder(winCPU*1000, win.Events), 100*bench.Ratio(winCPU, win.Duration().Seconds()), bench.PerOrder(total*1000, per), total)
	p("machine CPU          %8.3f ms/placed order in the window, every process (%.2f of %d cores busy, %.2f stolen by the host; orderflow %.0f%% of the busy)",
		bench.PerOrder(1000*r.machine.busy(win.Start, win.End), win.Events), bench.Ratio(r.machine.busy(win.Start, win.End), win.Duration().Seconds()),
		runtime.NumCPU(), bench.Ratio(r.machine.steal(win.Start, win.End), win.Duration().Seconds()), 100*bench.Ratio(winCPU, r.machine.busy(win.Start, win.End)))
	p("  by process         %s", procShares(r.machine.procBusy(win.Start, win.End), win.Events))
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
	waits, waited := r.metrics.Sum("orderflow_redis_pool_waits_total"), r.metrics.Sum("orderflow_redis_pool_wait_seconds_total")
	p("  pool               %.2f waits for a free connection/placed order, %.1f ms each on average; %.0f connections open at the end (orderflow_redis_pool_*)",
		bench.PerOrder(waits, per), 1000*bench.Ratio(waited, waits), r.metrics.Sum("orderflow_redis_pool_connections"))
	h := r.http
	p("HTTP at the sandbox  %8.2f requests/placed order, %.2f new TCP connections/placed order, %d answered 429", bench.PerOrder(float64(len(h.reqs)), per),
		bench.PerOrder(float64(h.newConns), per), h.withStatus(429))
	p("  by operation       %s", perOrder(h.byOp(), per))
	calls := r.metrics.By("orderflow_provider_calls_total", "operation")
	p("  orderflow's count  %s (orderflow_provider_calls_total)", perOrderF(calls, per))
	if n, sum := r.metrics.Histogram("orderflow_tracker_polls"); n > 0 {
		p("  tracker polls      %.2f polls/attempt the tracker ended (orderflow_tracker_polls: %d attempts, %.0f polls)", sum/float64(n), n, sum)
	}
	p("  engine             %s", r.engine())
	p("  provider calls     %s (mean, orderflow_provider_call_duration_seconds)", r.providerTimes())
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
	reqs := r.metrics.By("orderflow_kafka_requests_total", "request")
	var nreq float64
	for _, v := range reqs {
		nreq += v
	}
	p("Kafka requests       %8.2f/placed order (orderflow's clients, orderflow_kafka_requests_total): %s", bench.PerOrder(nreq, per), perOrderF(reqs, per))
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
		p("  machine CPU        %.3f ms/order in its window, every process (%.2f of %d cores busy, %.2f stolen by the host)",
			bench.PerOrder(1000*r.machine.busy(bw.Start, bw.End), bw.Events), bench.Ratio(r.machine.busy(bw.Start, bw.End), bw.Duration().Seconds()), runtime.NumCPU(),
			bench.Ratio(r.machine.steal(bw.Start, bw.End), bw.Duration().Seconds()))
		p("  by process         %s", procShares(r.machine.procBusy(bw.Start, bw.End), bw.Events))
		p("orderflow / bare     %8.2f (placed orders/s over bare orders/s)", bench.Ratio(win.Rate(), bw.Rate()))
	}
}

// engine formats, per role, the mean wait of a record before its handler ran
// (orderflow_consumer_wait_seconds: fetch, in-flight cap, key order, held records) and the mean
// handler time (orderflow_consumer_handler_seconds).
func (r *report) engine() string {
	var parts []string
	for _, role := range []string{"worker", "tracker", "reconciler"} {
		n, wait := r.metrics.Histogram("orderflow_consumer_wait_seconds", "role", role)
		m, handler := r.metrics.Histogram("orderflow_consumer_handler_seconds", "role", role)
		if n == 0 || m == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d records, waited %.0f ms, handled in %.0f ms", role, n, 1000*wait/float64(n), 1000*handler/float64(m)))
	}
	return strings.Join(parts, "; ") + " (means per record: wait from its timestamp or due time to its handler's start; handler to finish)"
}

// providerTimes formats the mean provider call per operation (measured inside the rate limiter:
// its wait apart; orderflow_provider_call_duration_seconds).
func (r *report) providerTimes() string {
	const name = "orderflow_provider_call_duration_seconds"
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(r.metrics.ByHistogram(name, "operation"))) {
		n, sum := r.metrics.Histogram(name, "operation", op)
		parts = append(parts, fmt.Sprintf("%s %.1f ms", op, 1000*sum/float64(n)))
	}
	return strings.Join(parts, ", ")
}

// timeline formats, per status state (in the order of the first event of each), when the
// orders' first events of that state were produced: p10/p50/p90 seconds after orderflow was
// ready.
func (r *report) timeline() string {
	type stage struct {
		state string
		times []time.Time
	}
	var st []stage
	for state, ts := range r.stages {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
		st = append(st, stage{state, ts})
	}
	slices.SortFunc(st, func(a, b stage) int { return a.times[len(a.times)/2].Compare(b.times[len(b.times)/2]) })
	var parts []string
	for _, s := range st {
		at := func(q float64) float64 { return s.times[int(q*float64(len(s.times)-1))].Sub(r.readyAt).Seconds() }
		parts = append(parts, fmt.Sprintf("%s %d at %.2f/%.2f/%.2fs", s.state, len(s.times), at(0.1), at(0.5), at(0.9)))
	}
	return strings.Join(parts, "; ") + " (first event of each state per order: p10/p50/p90 after ready)"
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

// procShares formats each sampled process's CPU ms per order.
func procShares(busy map[string]float64, n int) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(busy)) {
		parts = append(parts, fmt.Sprintf("%s %.3f", name, bench.PerOrder(1000*busy[name], n)))
	}
	return strings.Join(parts, ", ") + " ms/order"
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
