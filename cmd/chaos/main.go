// Command chaos runs orderflow as separate OS processes against the real services (Kafka,
// schema registry, Redis from scripts/services) and a provider sandbox injecting latency and
// faults, sends N demo orders over every scenario and both providers, and meanwhile kill -9s
// random role processes (restarting them), pauses a worker (SIGSTOP) for twice the lease and
// resumes it, sends a fraction of the requests twice under another key (so to another
// partition), kill -9s and restarts the Kafka broker once and restarts Redis once. Then it audits:
//
//  1. every order finished, with its scenario's outcome;
//  2. exactly one terminal status per merchant order;
//  3. the sandbox ledger: no order attempt with two submitted carts / consumed checkouts;
//  4. every dead letter has an action and its attempt history (raw unprocessable records
//     excepted), and every dead_lettered status has its dead letter.
//
// The checks are package demo/oracle's. It prints the counts and exits 1 on any violation, 2
// when it could not run.
//
//	make chaos CHAOS_ORDERS=5000          # or: go run ./cmd/chaos -orders 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/topology"
)

type options struct {
	orders        int
	rate          float64
	kills         int
	pauses        int
	dupRate       float64
	timeout       time.Duration
	keep          bool
	bin           string
	services      string
	dir           string
	brokers       string
	registry      string
	redis         string
	workers       int
	trackers      int
	sandbox       string
	faultRate     float64
	timeoutRt     float64
	latency       time.Duration
	step          time.Duration
	seed          uint64
	settle        time.Duration
	noKafka       bool
	noRedis       bool
	strict        bool
	tiers         string
	pollEvery     time.Duration
	neverStart    time.Duration
	actionTimeout time.Duration
	stuckAfter    time.Duration
	session       time.Duration
	// kafka is the brokers' security (-kafka-* flags; the password only from
	// ORDERFLOW_TEST_KAFKA_SASL_PASSWORD, never a flag); kafkaOpts its kgo options.
	kafka     kafkasec.Config
	kafkaOpts []kgo.Opt
}

func parseFlags() options {
	var o options
	flag.IntVar(&o.orders, "orders", 5000, "orders to send")
	flag.Float64Var(&o.rate, "rate", 0, "orders per second (0: N/60s, clamped to 5..50)")
	flag.IntVar(&o.kills, "kills", 10, "kill -9s of random role processes")
	flag.IntVar(&o.pauses, "pauses", 1, "worker processes paused (SIGSTOP) for twice the lease, then resumed (SIGCONT)")
	flag.Float64Var(&o.dupRate, "dup-rate", 0.05, "fraction of orders sent a second time under another record key (so to another partition)")
	flag.DurationVar(&o.timeout, "timeout", 0, "give up waiting for orders after this (0: sending time + 3m)")
	flag.BoolVar(&o.keep, "keep", false, "keep logs, topics and groups; at the end, wait for Ctrl-C before stopping the processes")
	flag.StringVar(&o.bin, "bin", "bin/orderflow", "orderflow binary")
	flag.StringVar(&o.services, "services", "scripts/services", "directory of kafka.sh, registry.sh, redis.sh")
	flag.StringVar(&o.dir, "dir", "", "run directory for logs (default /tmp/orderflow-chaos/<run>)")
	flag.StringVar(&o.brokers, "brokers", envOr("ORDERFLOW_TEST_BROKERS", "127.0.0.1:9092"), "Kafka bootstrap")
	flag.StringVar(&o.registry, "registry", envOr("ORDERFLOW_TEST_REGISTRY", "http://127.0.0.1:8081/apis/ccompat/v7"), "schema registry")
	flag.StringVar(&o.redis, "redis", envOr("ORDERFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0"), "Redis URL")
	flag.IntVar(&o.workers, "workers", 2, "worker processes")
	flag.IntVar(&o.trackers, "trackers", 2, "tracker processes")
	flag.StringVar(&o.sandbox, "sandbox", "inproc", "inproc: the sandbox package in this process, with a per-request access log; process: `orderflow sandbox` (same faults and latency, no access log)")
	flag.Float64Var(&o.faultRate, "fault-rate", 0.02, "sandbox: fraction of submits (Rye) / requests (Digital River) answered 503 before doing anything")
	flag.Float64Var(&o.timeoutRt, "timeout-rate", 0.02, "sandbox: fraction of submits answered 504 after taking effect")
	flag.DurationVar(&o.latency, "latency", 40*time.Millisecond, "sandbox (inproc only): uniform random latency in [0, latency] before every request")
	flag.DurationVar(&o.step, "placement-step", 50*time.Millisecond, "sandbox placement clock tick")
	flag.Uint64Var(&o.seed, "seed", 0, "random seed for the chaos schedule and the sandbox (0: from the clock)")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "keep following status events this long after everything finished, to catch late duplicate terminals")
	flag.BoolVar(&o.noKafka, "no-kafka-kill", false, "skip the broker kill -9")
	flag.BoolVar(&o.noRedis, "no-redis-restart", false, "skip the Redis restart")
	flag.BoolVar(&o.strict, "strict", false, "every outcome different from the scenario's is a violation (no degraded escalations)")
	flag.StringVar(&o.tiers, "retry-tiers", joinDurations(oracle.Chaos.Delays()), "roles: retry delay tiers")
	flag.DurationVar(&o.pollEvery, "poll-interval", oracle.Chaos.PollInterval, "roles: tracker poll interval")
	flag.DurationVar(&o.actionTimeout, "action-timeout", oracle.Chaos.ActionTimeout, "roles: dead-letter an order whose 3-D Secure challenge was not completed after this")
	flag.DurationVar(&o.neverStart, "never-started-after", oracle.Chaos.NeverStartedAfter, "roles: resubmit a cart with no placement events after this")
	flag.DurationVar(&o.stuckAfter, "stuck-after", oracle.Chaos.StuckAfter, "roles: needs attention after this")
	flag.DurationVar(&o.session, "session-timeout", 6*time.Second, "roles: consumer group session timeout")
	tlsOn, _ := strconv.ParseBool(os.Getenv("ORDERFLOW_TEST_KAFKA_TLS"))
	flag.BoolVar(&o.kafka.TLS.Enabled, "kafka-tls", tlsOn, "TLS to the brokers")
	flag.StringVar(&o.kafka.TLS.CAFile, "kafka-ca-file", os.Getenv("ORDERFLOW_TEST_CA_FILE"), "CA of the brokers' certificates (with -kafka-tls)")
	flag.StringVar(&o.kafka.Mechanism, "kafka-sasl-mechanism", os.Getenv("ORDERFLOW_TEST_KAFKA_SASL_MECHANISM"), "SASL mechanism (password: ORDERFLOW_TEST_KAFKA_SASL_PASSWORD)")
	flag.StringVar(&o.kafka.User, "kafka-sasl-user", os.Getenv("ORDERFLOW_TEST_KAFKA_SASL_USER"), "SASL user")
	flag.Parse()
	o.kafka.Password = os.Getenv("ORDERFLOW_TEST_KAFKA_SASL_PASSWORD")
	if !o.kafka.TLS.Enabled {
		o.kafka.TLS.CAFile = "" // the CA variable may be there for the registry or Redis
	}
	var err error
	if o.kafkaOpts, err = o.kafka.Opts(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: Kafka security:", err)
		os.Exit(2)
	}
	if o.rate <= 0 {
		o.rate = min(max(float64(o.orders)/60, 5), 50)
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	return o
}

func joinDurations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() { os.Exit(run()) }

// runner is one chaos run.
type runner struct {
	o       options
	start   time.Time
	rnd     *rand.Rand
	rndMu   sync.Mutex
	runID   string
	dir     string
	topo    topology.Topology
	sup     *supervisor
	roles   []*proc
	sbURL   string
	stopSB  func()
	access  *accessLog // in-process sandbox only
	prod    *producer.Producer
	follow  *oracle.Follower
	wants   map[string]demo.Scenario // order id -> scenario (written before the order is sent)
	sentAt  map[string]time.Time
	wantsMu sync.Mutex
	sent    atomic.Int64

	kills       atomic.Int64
	paused      atomic.Int64
	dups        atomic.Int64
	kafkaKills  atomic.Int64
	brokerDown  atomic.Bool
	redisRestar atomic.Int64
	chaosDone   atomic.Bool
	keepLogs    bool // something worth reading happened (tolerated differences)
	chaosLog    []string
	chaosMu     sync.Mutex
}

func (r *runner) logf(format string, a ...any) {
	line := fmt.Sprintf("[%6.1fs] ", time.Since(r.start).Seconds()) + fmt.Sprintf(format, a...)
	fmt.Println(line)
	r.chaosMu.Lock()
	r.chaosLog = append(r.chaosLog, line)
	r.chaosMu.Unlock()
}

func (r *runner) randDur(lo, hi time.Duration) time.Duration {
	r.rndMu.Lock()
	defer r.rndMu.Unlock()
	return lo + time.Duration(r.rnd.Int64N(int64(hi-lo)+1))
}

func (r *runner) randN(n int) int {
	r.rndMu.Lock()
	defer r.rndMu.Unlock()
	return r.rnd.IntN(n)
}

func run() int {
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	stamp := time.Now().UTC().Format("20060102-150405")
	r := &runner{o: o, start: time.Now(), rnd: rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15)),
		wants: map[string]demo.Scenario{}, sentAt: map[string]time.Time{}}
	r.runID = fmt.Sprintf("chaos-%s-%04x", stamp, o.seed&0xffff)
	r.sup = &supervisor{logf: r.logf}

	if err := r.preflight(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	r.dir = o.dir
	if r.dir == "" {
		r.dir = filepath.Join(os.TempDir(), "orderflow-chaos", r.runID)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2
	}
	fmt.Printf("chaos: run %s, seed %d, logs in %s\n", r.runID, o.seed, r.dir)
	fmt.Printf("chaos: %d orders at %.0f/s, %d kill -9s of roles, %d worker pauses, %.0f%% duplicates, broker kill -9: %v, Redis restart (clean, redis.sh restart): %v\n",
		o.orders, o.rate, o.kills, o.pauses, 100*o.dupRate, !o.noKafka, !o.noRedis)

	code, cleanOK := r.main(ctx)
	r.cleanup(cleanOK && !o.keep)
	if code == 0 && !o.keep && !r.keepLogs {
		// Logs of a clean run are not needed; a failed run keeps them for the report.
		_ = os.RemoveAll(r.dir)
		fmt.Println("chaos: clean run, removed", r.dir)
	} else {
		fmt.Println("chaos: logs kept in", r.dir)
	}
	return code
}

// preflight checks that the real services are up and the binary exists.
func (r *runner) preflight() error {
	if _, err := os.Stat(r.o.bin); err != nil {
		return fmt.Errorf("%s not found (make build): %w", r.o.bin, err)
	}
	for _, s := range []string{"kafka", "registry", "redis"} {
		out, err := exec.Command(filepath.Join(r.o.services, s+".sh"), "status").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s is not up (%s): start the services with scripts/services/up.sh (or make services-up)", s, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// main runs everything; it returns the exit code and whether the run's topics may be deleted.
func (r *runner) main(ctx context.Context) (int, bool) {
	o := r.o
	tiers, err := parseTiers(o.tiers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2, false
	}
	r.topo = topology.Topology{Prefix: r.runID + ".", Tiers: tiers}.WithDefaults()
	if err := r.topo.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2, false
	}

	if err := r.startSandbox(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: sandbox:", err)
		return 2, false
	}
	brokers := strings.Split(o.brokers, ",")
	reg, err := r.registryClient()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2, false
	}
	adm, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, o.kafkaOpts...)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2, false
	}
	defer adm.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = r.topo.Ensure(sctx, kadm.NewClient(adm))
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: creating topics:", err)
		return 2, false
	}
	r.prod, err = producer.New(ctx, producer.Config{Brokers: brokers, Registry: reg, Topology: r.topo, Opts: o.kafkaOpts})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: producer:", err)
		return 2, false
	}
	defer r.prod.Close()

	r.follow = oracle.NewFollower(r.prod.Codec())
	fctx, stopFollow := context.WithCancel(context.Background())
	followDone := make(chan error, 1)
	go func() { followDone <- r.follow.Run(fctx, brokers, o.kafkaOpts, r.topo.Status()) }()
	defer func() { stopFollow(); <-followDone }()

	if err := r.startRoles(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 2, false
	}
	r.logf("started %d role processes and the sandbox (%s) with topic prefix %q", len(r.roles), r.sbURL, r.topo.Prefix)

	// Send for N/rate; the chaos schedule spans the same window.
	window := time.Duration(float64(o.orders) / o.rate * float64(time.Second))
	timeout := o.timeout
	if timeout <= 0 {
		timeout = window + 3*time.Minute
	}
	deadline := time.Now().Add(timeout)
	sendDone := make(chan error, 1)
	go func() { sendDone <- r.send(ctx) }()
	var chaosWG sync.WaitGroup
	chaosWG.Go(func() { r.killRoles(ctx, window) })
	chaosWG.Go(func() { r.pauseWorkers(ctx, window) })
	chaosWG.Go(func() { r.restartServices(ctx, window) })
	go func() { chaosWG.Wait(); r.chaosDone.Store(true) }()

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	sending := true
	interrupted := false
loop:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break loop
		case err := <-sendDone:
			sending = false
			if err != nil && ctx.Err() == nil {
				r.logf("sending failed: %v", err)
				return 2, false
			}
			r.logf("sent %d orders", r.sent.Load())
		case <-tick.C:
			r.progress()
		}
		if !sending && r.chaosDone.Load() && r.follow.Tally.Finished() >= o.orders {
			r.logf("every order finished")
			break
		}
		if time.Now().After(deadline) {
			r.logf("deadline (%s) reached with %d of %d orders finished", timeout, r.follow.Tally.Finished(), o.orders)
			break
		}
	}
	if interrupted {
		fmt.Println("chaos: interrupted; stopping everything")
		return 130, false
	}
	chaosWG.Wait()
	r.logf("settling %s (late duplicate terminal events)", o.settle)
	select {
	case <-time.After(o.settle):
	case <-ctx.Done():
		return 130, false
	}
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := r.follow.CatchUp(actx, kadm.NewClient(adm), r.topo.Status()); err != nil {
		r.logf("status topic: not caught up: %v", err)
	}
	a := r.audit(actx, brokers)
	if a.violations() > 0 {
		return 1, false
	}
	return 0, true
}

func parseTiers(s string) ([]topology.Tier, error) {
	var out []topology.Tier
	for f := range strings.SplitSeq(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("retry tier %q: %w", f, err)
		}
		out = append(out, topology.Tier{Name: d.String(), Delay: d})
	}
	return out, nil
}

// startRoles starts the worker, tracker and reconciler processes.
func (r *runner) startRoles() error {
	o := r.o
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORDERFLOW_") {
			env = append(env, kv)
		}
	}
	env = append(env, "ORDERFLOW_LOG_LEVEL=info")
	// The brokers' security through the environment: the password stays out of ps.
	if k := o.kafka; k.Enabled() {
		env = append(env, "ORDERFLOW_KAFKA_TLS="+strconv.FormatBool(k.TLS.Enabled), "ORDERFLOW_KAFKA_CA_FILE="+k.TLS.CAFile,
			"ORDERFLOW_KAFKA_SASL_MECHANISM="+k.Mechanism, "ORDERFLOW_KAFKA_SASL_USER="+k.User, "ORDERFLOW_KAFKA_SASL_PASSWORD="+k.Password)
	}
	base := []string{"run",
		"--brokers", o.brokers, "--registry", o.registry,
		"--rye-url", r.sbURL + "/rye", "--rye-key", "rye-sandbox-key",
		"--dr-url", r.sbURL + "/dr", "--dr-key", "sk_test_orderflow_sandbox",
		"--prefix", r.topo.Prefix,
		"--poll-interval", o.pollEvery.String(), "--never-started-after", o.neverStart.String(),
		"--stuck-after", o.stuckAfter.String(), "--action-timeout", o.actionTimeout.String(), "--session-timeout", o.session.String(),
		"--rye-strict-rps", "1000", "--dr-rps", "1000", "--lease", roleLease.String(),
		"--retry-tiers"}
	for _, t := range r.topo.Tiers {
		base = append(base, t.Delay.String())
	}
	secured, err := r.securedArgs() // --redis, and the registry's and Redis's credentials and CA
	if err != nil {
		return err
	}
	base = append(base, secured...)
	add := func(role string, n int) {
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("%s-%d", role, i)
			p := &proc{name: name, role: role, bin: r.o.bin, env: env,
				args: append(append([]string(nil), base...), "--roles", role), logPath: filepath.Join(r.dir, name+".log")}
			r.sup.add(p)
			r.roles = append(r.roles, p)
		}
	}
	add("worker", o.workers)
	add("tracker", o.trackers)
	add("reconciler", 1)
	for _, p := range r.roles {
		if err := p.start(); err != nil {
			return err
		}
	}
	return nil
}

// send produces the orders at a steady rate (blocking while the broker is down).
func (r *runner) send(ctx context.Context) error {
	gen := demo.Generator{Prefix: r.runID + "-", Scenarios: demo.All()}
	interval := time.Duration(float64(time.Second) / r.o.rate)
	next := time.Now()
	for i := 0; i < r.o.orders; i++ {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		// A steady rate: after a stall (the broker down), carry on from now rather than
		// sending the backlog in a burst.
		next = next.Add(interval)
		if behind := time.Now().Add(-time.Second); next.Before(behind) {
			next = behind
		}
		ord := gen.Next()
		r.wantsMu.Lock()
		r.wants[ord.Request.OrderID] = ord.Scenario
		r.sentAt[ord.Request.OrderID] = time.Now()
		r.wantsMu.Unlock()
		r.follow.Tally.Expect(ord.Request)
		for attempt := 1; ; attempt++ {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := r.prod.RequestOrder(pctx, ord.Request)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt == 5 {
				return fmt.Errorf("order %s: %w", ord.Request.OrderID, err)
			}
			// Re-sending the same request is safe: the worker dedupes the attempt.
			r.logf("sending %s failed (%v); retrying", ord.Request.OrderID, err)
		}
		r.sent.Add(1)
		if r.randFloat() < r.o.dupRate {
			// The same request again under another key: another partition, so another worker
			// (or goroutine) handles it concurrently with the original; the idempotency store
			// must still make one cart of the attempt.
			dup := producer.Message{Topic: r.topo.Requests(), Key: ord.Request.OrderID + "/duplicate", Value: ord.Request}
			if err := r.prod.Send(ctx, dup); err != nil {
				r.logf("sending a duplicate of %s failed (%v); not counted", ord.Request.OrderID, err)
			} else {
				r.dups.Add(1)
			}
		}
	}
	return nil
}

// roleLease is the roles' --lease: how long an idempotency lease outlives a silent owner.
const roleLease = 10 * time.Second

// pauseWorkers freezes random worker processes with SIGSTOP for twice the lease, then resumes
// them: a zombie whose lease expired and whose partitions moved on must not act (fencing).
func (r *runner) pauseWorkers(ctx context.Context, window time.Duration) {
	for i := 0; i < r.o.pauses; i++ {
		if !sleepUntil(ctx, r.start.Add(r.randDur(window/10, window*8/10))) {
			return
		}
		var up []*proc
		for _, p := range r.roles {
			if p.role == "worker" && p.running() {
				up = append(up, p)
			}
		}
		if len(up) == 0 {
			continue
		}
		p := up[r.randN(len(up))]
		pid := p.pid()
		if pid <= 0 || syscall.Kill(pid, syscall.SIGSTOP) != nil {
			continue
		}
		r.paused.Add(1)
		r.logf("chaos: SIGSTOP %s (pid %d) for %s (twice the lease)", p.name, pid, 2*roleLease)
		t := time.NewTimer(2 * roleLease)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		_ = syscall.Kill(pid, syscall.SIGCONT) // resumed even when the run is ending
		r.logf("chaos: SIGCONT %s (pid %d)", p.name, pid)
	}
}

func (r *runner) randFloat() float64 {
	r.rndMu.Lock()
	defer r.rndMu.Unlock()
	return r.rnd.Float64()
}

// killRoles kill -9s random role processes at random moments in the window (every role at
// least once when kills >= roles), restarting each with the same flags.
func (r *runner) killRoles(ctx context.Context, window time.Duration) {
	if r.o.kills <= 0 {
		return
	}
	at := make([]time.Duration, r.o.kills)
	for i := range at {
		at[i] = r.randDur(window/20, window*19/20)
	}
	sortDurations(at)
	// Cover every role first, then random processes.
	byRole := map[string][]*proc{}
	var roleNames []string
	for _, p := range r.roles {
		if byRole[p.role] == nil {
			roleNames = append(roleNames, p.role)
		}
		byRole[p.role] = append(byRole[p.role], p)
	}
	r.rndMu.Lock()
	r.rnd.Shuffle(len(roleNames), func(i, j int) { roleNames[i], roleNames[j] = roleNames[j], roleNames[i] })
	r.rndMu.Unlock()
	var paused time.Duration
	for i, t := range at {
		// A kill while the broker is down only tests startup failure: the kill clock stops
		// while it is down (the schedule shifts by the outage), and waits for a process up.
		for {
			if !sleepUntil(ctx, r.start.Add(t+paused)) {
				return
			}
			if !r.brokerDown.Load() && anyRunning(r.roles) {
				break
			}
			t0 := time.Now()
			for r.brokerDown.Load() || !anyRunning(r.roles) {
				if !sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
					return
				}
			}
			paused += time.Since(t0)
		}
		var cands []*proc
		if i < len(roleNames) {
			cands = byRole[roleNames[i]]
		} else {
			cands = r.roles
		}
		var p *proc
		for p == nil {
			var up []*proc
			for _, c := range cands {
				if c.running() {
					up = append(up, c)
				}
			}
			if len(up) > 0 {
				p = up[r.randN(len(up))]
				break
			}
			if !sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
				return
			}
		}
		pid, start := p.kill9()
		r.kills.Add(1)
		down := r.randDur(200*time.Millisecond, 2*time.Second)
		r.logf("chaos: kill -9 %s (pid %d) [%d/%d]; restarting in %s", p.name, pid, i+1, r.o.kills, down.Round(time.Millisecond))
		if !sleepUntil(ctx, time.Now().Add(down)) {
			return
		}
		if err := p.restartIf(start); err != nil {
			r.logf("chaos: restarting %s: %v", p.name, err)
		}
	}
}

func anyRunning(ps []*proc) bool {
	for _, p := range ps {
		if p.running() {
			return true
		}
	}
	return false
}

// restartServices kill -9s and restarts the broker once, then restarts Redis once (cleanly:
// Redis runs AOF with fsync every second, so a kill -9 could lose up to 1 s of acknowledged
// writes — idempotency records — which no client can defend against).
func (r *runner) restartServices(ctx context.Context, window time.Duration) {
	if !r.o.noKafka {
		if !sleepUntil(ctx, r.start.Add(r.randDur(window/5, window*2/5))) {
			return
		}
		t0 := time.Now()
		r.logf("chaos: kafka.sh kill9")
		r.brokerDown.Store(true)
		defer r.brokerDown.Store(false)
		if err := r.service("kafka", "kill9"); err != nil {
			r.logf("chaos: kafka kill9 failed: %v", err)
		}
		if !sleepUntil(ctx, time.Now().Add(r.randDur(time.Second, 3*time.Second))) {
			return
		}
		r.logf("chaos: kafka.sh start")
		if err := r.service("kafka", "start"); err != nil {
			r.logf("chaos: kafka start FAILED: %v", err)
		} else {
			r.kafkaKills.Add(1)
			r.logf("chaos: broker back after %s", time.Since(t0).Round(100*time.Millisecond))
		}
		r.brokerDown.Store(false)
	}
	if !r.o.noRedis {
		if !sleepUntil(ctx, r.start.Add(r.randDur(window*3/5, window*4/5))) {
			return
		}
		t0 := time.Now()
		r.logf("chaos: redis.sh restart (clean stop + start; a kill -9 could lose up to 1 s of AOF writes)")
		if err := r.service("redis", "restart"); err != nil {
			r.logf("chaos: redis restart FAILED: %v", err)
		} else {
			r.redisRestar.Add(1)
			r.logf("chaos: redis back after %s", time.Since(t0).Round(100*time.Millisecond))
		}
	}
}

func (r *runner) service(name, verb string) error {
	f, err := os.OpenFile(filepath.Join(r.dir, "services.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "=== %s %s.sh %s\n", time.Now().Format(time.RFC3339Nano), name, verb)
	cmd := exec.Command(filepath.Join(r.o.services, name+".sh"), verb)
	cmd.Stdout, cmd.Stderr = f, f
	return cmd.Run()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

func (r *runner) progress() {
	t := r.follow.Tally
	k := "-"
	if r.kafkaKills.Load() > 0 {
		k = "done"
	}
	rd := "-"
	if r.redisRestar.Load() > 0 {
		rd = "done"
	}
	r.logf("sent %d/%d, finished %d | kills %d/%d, broker %s, redis %s | %s", r.sent.Load(), r.o.orders, t.Finished(),
		r.kills.Load(), r.o.kills, k, rd, t.Summary())
}

// cleanup stops every process the driver started (the real services keep running) and, when
// asked, deletes the run's topics and groups.
func (r *runner) cleanup(deleteTopics bool) {
	if r.o.keep && len(r.roles) > 0 {
		fmt.Printf("chaos: -keep: processes still running (prefix %q, sandbox %s); Ctrl-C to stop them\n", r.topo.Prefix, r.sbURL)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		<-ch
	}
	r.sup.stopAll(10 * time.Second)
	if r.stopSB != nil {
		r.stopSB()
	}
	if deleteTopics && r.topo.Prefix != "" {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(r.o.brokers, ",")...)}, r.o.kafkaOpts...)...)
		if err != nil {
			return
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var topics []string
		for t := range r.topo.Schemas() {
			topics = append(topics, t)
		}
		_, err1 := adm.DeleteGroups(ctx, r.topo.WorkerGroup(), r.topo.TrackerGroup(), r.topo.ReconcilerGroup())
		_, err2 := adm.DeleteTopics(ctx, topics...)
		if err := errors.Join(err1, err2); err != nil {
			fmt.Println("chaos: deleting the run's topics/groups:", err)
		}
	}
}
