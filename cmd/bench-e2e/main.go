// Command bench-e2e measures orderflow end to end (`make bench-e2e`): it loads N order
// requests onto the requests topic, runs orderflow (bin/orderflow run, its own process, so its
// CPU and memory are its own) until every order reached a terminal status, and prints from that
// one run the placed orders per second over the steady window, send→terminal latency, orderflow's
// CPU per order, Redis round trips and commands, HTTP requests and new TCP connections at the
// sandbox, Kafka records and bytes written, and peak RSS; then, in the same run, a bare loop doing
// only the minimal work per order (bare.go) at the same concurrency, and the ratio of the two.
//
// The stack is in process by default (kfake, srfake, miniredis; the sandbox always is): -real
// uses the services of scripts/services (eval "$(scripts/services/env.sh)"). -rate-limit R runs
// the Rye sandbox's strict tier at R requests/s and orderflow's shared limit at R and reports the
// achieved rate, the 429s and orderflow's CPU while orders wait. No number is asserted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/internal/bench"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ryefake"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

type options struct {
	orders        int
	drShare       float64
	partitions    int
	latency       time.Duration
	rateLimit     float64
	sendRate      float64
	concurrency   int
	bin           string
	real          bool
	timeout       time.Duration
	lo, hi        float64
	dir           string
	noBare        bool
	placementStep time.Duration
	orderflowArgs string
	instances     int
}

func parseFlags() options {
	var o options
	flag.IntVar(&o.orders, "orders", 2000, "orders to load")
	flag.Float64Var(&o.drShare, "dr", 0, "fraction of the orders that go to Digital River (the rest are plain Rye orders)")
	flag.IntVar(&o.partitions, "partitions", 16, "partitions of every topic")
	flag.DurationVar(&o.latency, "provider-latency", 0, "latency the sandbox adds to every provider request (Rye and Digital River)")
	flag.Float64Var(&o.rateLimit, "rate-limit", 0, "rate-limit mode: the Rye sandbox's strict tier (createCart, submitCart) at this many requests/s and orderflow's --rye-strict-rps the same (0: throughput mode, limits out of the way)")
	flag.Float64Var(&o.sendRate, "send-rate", 0, "orders/s sent while orderflow runs (0: all loaded before orderflow starts)")
	flag.IntVar(&o.concurrency, "concurrency", 1000, "bare loop: orders in flight (orderflow's worker default MaxInFlight is 1000)")
	flag.StringVar(&o.bin, "bin", "bin/orderflow", "orderflow binary")
	flag.BoolVar(&o.real, "real", false, "use the real services of scripts/services (the ORDERFLOW_TEST_* variables of scripts/services/env.sh)")
	flag.DurationVar(&o.timeout, "timeout", 0, "give up waiting for terminal statuses after this (0: from the order count)")
	flag.Float64Var(&o.lo, "window-from", 0.1, "steady window: from the placed order of this rank (fraction)")
	flag.Float64Var(&o.hi, "window-to", 0.9, "steady window: to the placed order of this rank (fraction)")
	flag.StringVar(&o.dir, "dir", "", "run directory for orderflow's log (default /tmp/bench-e2e/<run>)")
	flag.BoolVar(&o.noBare, "no-bare", false, "skip the bare loop")
	flag.DurationVar(&o.placementStep, "placement-step", 100*time.Millisecond, "sandbox: placement clock tick (a Rye order is placed a few ticks after submit)")
	flag.StringVar(&o.orderflowArgs, "orderflow-args", "", "more flags for orderflow run, space-separated (--poll-interval 200ms, say)")
	flag.IntVar(&o.instances, "instances", 1, "orderflow processes (each runs every role; CPU, RSS and metrics are summed)")
	flag.Parse()
	if o.timeout <= 0 {
		o.timeout = 2*time.Minute + time.Duration(o.orders)*20*time.Millisecond
		if o.rateLimit > 0 {
			o.timeout += time.Duration(float64(2*o.orders)/o.rateLimit*float64(time.Second)) + time.Minute
		}
	}
	return o
}

func main() {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.orders < 2 || o.concurrency < 1 || o.instances < 1 || o.partitions < 1 || !(0 <= o.lo && o.lo < o.hi && o.hi <= 1) {
		return errors.New("need -orders >= 2, -concurrency >= 1, -partitions >= 1 and 0 <= -window-from < -window-to <= 1")
	}
	runID := strconv.FormatInt(time.Now().Unix(), 10)
	if o.dir == "" {
		o.dir = filepath.Join(os.TempDir(), "bench-e2e", runID)
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	var st *stack
	var err error
	if o.real {
		st, err = realStack()
	} else {
		st, err = embeddedStack(o.partitions)
	}
	if err != nil {
		return err
	}
	defer st.close()

	// The sandbox, in this process, counting at its server.
	sbCfg := sandbox.Config{
		Rye:          ryefake.Config{PlacementStep: o.placementStep, Latency: ryefake.Latency{Min: o.latency, Max: o.latency}},
		DigitalRiver: drfake.Config{PlacementStep: o.placementStep, LatencyMin: o.latency, LatencyMax: o.latency},
	}
	if o.rateLimit > 0 {
		sbCfg.Rye.StrictRPS = o.rateLimit
	}
	sbCfg, _ = sbCfg.LiftLimits() // what the mode leaves at zero: the default tier, all in throughput mode
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		return err
	}
	srv, err := serveCounting(sb)
	if err != nil {
		return err
	}
	defer srv.close()
	keys := map[string]string{}
	for _, m := range sb.Mounts() {
		keys[m.Provider] = m.APIKey
	}

	topo := topology.Topology{Prefix: "bench" + runID + ".", Partitions: int32(o.partitions)}.WithDefaults()
	if err := topo.Validate(); err != nil {
		return err
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(st.brokers...)}, st.kafkaOpts...)...)
	if err != nil {
		return err
	}
	err = topo.Ensure(ctx, kadm.NewClient(admCl))
	admCl.Close()
	if err != nil {
		return fmt.Errorf("creating the topics: %w", err)
	}
	reg, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(st.registryURL)}, st.registryOpts...)...)
	if err != nil {
		return err
	}
	kopts := append([]kgo.Opt{kgo.SeedBrokers(st.brokers...)}, st.kafkaOpts...)
	prod, err := producer.New(ctx, producer.Config{Brokers: st.brokers, Registry: reg, Topology: topo, Opts: st.kafkaOpts})
	if err != nil {
		return fmt.Errorf("starting the bench's producer: %w", err)
	}
	defer prod.Close()

	gen := orderGen{prefix: "bench-" + runID + "-", drShare: o.drShare}
	outs := newOutcomes(o.orders)
	loadStart := time.Now()
	if o.sendRate <= 0 {
		if err := load(ctx, prod, topo, &gen, outs, o.orders); err != nil {
			return err
		}
	}
	loaded := time.Since(loadStart)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error { return follow(gctx, kopts, topo.Status(), prod.Codec(), outs) })

	args, env, err := st.child(o.dir)
	if err != nil {
		return err
	}
	rps := "100000" // throughput mode: orderflow's shared limiter stays in the path, never binding
	if o.rateLimit > 0 {
		rps = strconv.FormatFloat(o.rateLimit, 'f', -1, 64)
	}
	args = append(args, "--prefix", topo.Prefix,
		"--rye-url", srv.url+sandbox.RyePrefix, "--rye-key", keys["rye"],
		"--dr-url", srv.url+sandbox.DigitalRiverPrefix, "--dr-key", keys["digitalriver"],
		"--rye-strict-rps", rps, "--rye-default-rps", "100000", "--dr-rps", "100000")
	args = append(args, strings.Fields(o.orderflowArgs)...)
	admin, err := st.redisClient(2) // INFO commandstats, before and after
	if err != nil {
		return err
	}
	defer admin.Close()
	statsBefore := commandStats(ctx, admin)
	before := srv.snapshot()
	procs := map[string]int{"bench (sandbox, follower)": os.Getpid()}
	if o.real {
		maps.Copy(procs, serviceProcs())
	}
	mach := sampleMachine(procs)
	defer mach.stop()
	var children []*child
	exited := make(chan *child, o.instances)
	for i := range o.instances {
		ch, err := startChild(o.bin, args, env, filepath.Join(o.dir, fmt.Sprintf("orderflow-%d.log", i+1)))
		if err != nil {
			return err
		}
		defer ch.stop()
		children = append(children, ch)
		go func() {
			<-ch.exited
			exited <- ch
		}()
	}
	readyCtx, cancelReady := context.WithTimeout(ctx, 2*time.Minute)
	for _, ch := range children {
		if err := ch.ready(readyCtx); err != nil {
			cancelReady()
			return err
		}
	}
	cancelReady()
	readyAt := time.Now()
	if o.sendRate > 0 {
		g.Go(func() error { return sendPaced(gctx, prod, topo, &gen, outs, o.orders, o.sendRate) })
	}
	wait := time.NewTimer(o.timeout)
	defer wait.Stop()
	select {
	case <-outs.all:
	case <-wait.C:
		fmt.Fprintf(os.Stderr, "bench-e2e: timed out after %v with %d of %d orders terminal; reporting what finished\n", o.timeout, outs.count(), o.orders)
	case <-ctx.Done():
		return ctx.Err()
	case ch := <-exited:
		return fmt.Errorf("orderflow exited: %v (logs in %s)", ch.waitErr, o.dir)
	}
	doneAt := time.Now()
	var scrapes []bench.Metrics
	var cpus [][]bench.Sample
	var rssSum, rssMax int64
	for _, ch := range children {
		m, err := ch.scrape(ctx)
		if err != nil {
			return fmt.Errorf("scraping orderflow's metrics: %w", err)
		}
		cpu, rss := ch.samples()
		scrapes, cpus = append(scrapes, m), append(cpus, cpu)
		rssSum, rssMax = rssSum+rss, max(rssMax, rss)
	}
	httpCounts := srv.snapshot().since(before)
	statsRun := commandStats(ctx, admin)
	for _, ch := range children {
		if err := ch.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		}
	}
	cancel()
	_ = g.Wait()
	topics, requests, err := countTopics(ctx, kopts, topo)
	if err != nil {
		return err
	}
	if o.real {
		// A broker that keeps every run's topics (16 partitions each, ten topics a run) carries
		// thousands of partitions after a day of runs, and later runs pay for them.
		defer dropTopics(context.WithoutCancel(ctx), kopts, topo)
	}

	r := report{o: o, stack: st.name, machine: mach, prefix: topo.Prefix, loaded: loaded, started: children[0].started, readyAt: readyAt, doneAt: doneAt,
		cpu: bench.Sum(cpus...), peakRSS: rssMax, peakRSSSum: rssSum, metrics: bench.Merge(scrapes...), http: httpCounts, redisServer: statsDelta(statsBefore, statsRun), topics: topics, requestsWritten: requests - int64(o.orders)}
	r.placed, r.latencies, r.byOutcome = outs.result()
	r.stages = outs.timeline()
	if o.rateLimit == 0 && !o.noBare {
		before := srv.snapshot()
		redisPrefix := service.RedisPrefix(topo.Prefix) + ":bare"
		b, err := bareLoop(ctx, st, srv.url+sandbox.RyePrefix, keys["rye"], redisPrefix, "bare-"+runID+"-", o.orders, o.concurrency)
		if err != nil {
			return err
		}
		r.bare, r.bareHTTP = &b, srv.snapshot().since(before)
		r.bareServer = statsDelta(statsRun, commandStats(ctx, admin))
	}
	r.print(os.Stdout)
	return nil
}

// orderGen hands out plain Rye orders (demo.Placed) and, for a share drShare, plain Digital
// River ones (demo.DRPlaced).
type orderGen struct {
	prefix  string
	drShare float64
	n       int
	dr      float64
}

func (g *orderGen) next() (demo.Scenario, string, int) {
	g.n++
	s := demo.Placed
	if g.drShare > 0 {
		g.dr += g.drShare
		if g.dr >= 1 {
			g.dr--
			s = demo.DRPlaced
		}
	}
	return s, fmt.Sprintf("%s%06d", g.prefix, g.n), g.n
}

// load produces n orders in batches of 500, each batch acknowledged before the next.
func load(ctx context.Context, p *producer.Producer, topo topology.Topology, g *orderGen, outs *outcomes, n int) error {
	const batch = 500
	for sent := 0; sent < n; {
		var msgs []producer.Message
		now := time.Now()
		for ; sent < n && len(msgs) < batch; sent++ {
			s, id, k := g.next()
			req := s.Build(id, k)
			msgs = append(msgs, producer.Message{Topic: topo.Requests(), Key: id, Value: req})
			outs.markSent(id, now)
		}
		if err := p.Send(ctx, msgs...); err != nil {
			return fmt.Errorf("loading orders: %w", err)
		}
	}
	return nil
}

// sendPaced produces n orders at rate per second, each marked sent when produced.
func sendPaced(ctx context.Context, p *producer.Producer, topo topology.Topology, g *orderGen, outs *outcomes, n int, rate float64) error {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for range n {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		s, id, k := g.next()
		outs.markSent(id, time.Now())
		if err := p.RequestOrder(ctx, s.Build(id, k)); err != nil {
			return err
		}
	}
	return nil
}
