package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/internal/backoff"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

type runCmd struct {
	Brokers  []string `arg:"--brokers,env:ORDERFLOW_BROKERS" help:"Kafka bootstrap brokers (default: in-process kfake)"`
	Registry string   `arg:"--registry,env:ORDERFLOW_REGISTRY" help:"Confluent-compatible schema registry URL (default: in-process srfake)"`
	Redis    string   `arg:"--redis,env:ORDERFLOW_REDIS" help:"redis:// or rediss:// (TLS) URL (default: in-process miniredis)"`
	registryFlags
	redisFlags
	RyeURL   string   `arg:"--rye-url,env:ORDERFLOW_RYE_URL" help:"Rye API base URL (default: the in-process sandbox)"`
	RyeKey   string   `arg:"--rye-key,env:ORDERFLOW_RYE_KEY" help:"Rye API key"`
	DRURL    string   `arg:"--dr-url,env:ORDERFLOW_DR_URL" help:"Digital River API base URL (default: the in-process sandbox)"`
	DRKey    string   `arg:"--dr-key,env:ORDERFLOW_DR_KEY" help:"Digital River confidential key"`
	Roles    []string `arg:"--roles,env:ORDERFLOW_ROLES" help:"roles to run, space- or comma-separated (worker, tracker, reconciler; default all)"`
	Prefix   string   `arg:"--prefix,env:ORDERFLOW_TOPIC_PREFIX" default:"orders." help:"topic and group name prefix, unique per deployment"`
	Demo     *bool    `arg:"--demo" help:"send demo orders (default: on when Kafka is embedded)"`
	Orders   int      `arg:"--orders" help:"with the demo: stop after this many orders reached a terminal state (0: until Ctrl-C)"`
	Rate     float64  `arg:"--rate" default:"20" help:"demo orders per second"`
	Skeleton bool     `arg:"--skeleton" help:"demo only the three walking-skeleton scenarios"`

	FirstPoll         time.Duration `arg:"--first-poll,env:ORDERFLOW_FIRST_POLL" help:"tracker's first poll of a submitted cart, when its placement is likely; later waits double up to --poll-interval, each jittered ±20% (default 1s, at most --poll-interval)"`
	PollInterval      time.Duration `arg:"--poll-interval,env:ORDERFLOW_POLL_INTERVAL" help:"tracker's longest wait between two polls of a cart (default 2s; embedded demo 200ms)"`
	NeverStartedAfter time.Duration `arg:"--never-started-after,env:ORDERFLOW_NEVER_STARTED_AFTER" help:"resubmit a cart with no placement events after this (default 5m)"`
	StuckAfter        time.Duration `arg:"--stuck-after,env:ORDERFLOW_STUCK_AFTER" help:"needs attention when only OrderSubmissionStarted after this (default 10m)"`
	ActionTimeout     time.Duration `arg:"--action-timeout,env:ORDERFLOW_ACTION_TIMEOUT" help:"how long an order waits for the customer to complete a required action (3-D Secure) before it is dead-lettered (default 1h)"`
	MaxResubmits      uint          `arg:"--max-resubmits,env:ORDERFLOW_MAX_RESUBMITS" help:"resubmits of a never-started cart that the provider accepted or left unanswered (5xx, timeout) before it needs a person; refused resubmits (retryable, 429) do not count and retry until the order's deadline (default 2)"`
	Tiers             []string      `arg:"--retry-tiers,env:ORDERFLOW_RETRY_TIERS" help:"delay tiers for retries, ascending, space- or comma-separated (default 1s 10s 1m)"`
	SessionTimeout    time.Duration `arg:"--session-timeout,env:ORDERFLOW_SESSION_TIMEOUT" help:"consumer group session timeout (default 45s)"`
	RyeStrictRPS      *float64      `arg:"--rye-strict-rps,env:ORDERFLOW_RYE_STRICT_RPS" help:"requests/s of Rye's strict tier (createCart, submitCart), shared by every instance (default 1, Rye's documented limit; 0 unlimited)"`
	RyeDefaultRPS     *float64      `arg:"--rye-default-rps,env:ORDERFLOW_RYE_DEFAULT_RPS" help:"requests/s of Rye's default tier (checkoutByCartID: the tracker's polls), shared by every instance (default 100, Rye's documented limit; 0 unlimited)"`
	DRRPS             *float64      `arg:"--dr-rps,env:ORDERFLOW_DR_RPS" help:"requests/s of every Digital River call, shared by every instance (default 25, the documented limit of test keys; live keys: 250; 0 unlimited)"`
	MaxInFlight       uint          `arg:"--max-in-flight,env:ORDERFLOW_MAX_IN_FLIGHT" help:"records each role (worker, tracker, reconciler) holds at once; the provider clients' connection pools are sized for the worker's and tracker's together (default 1000)"`
	RedisPool         uint          `arg:"--redis-pool,env:ORDERFLOW_REDIS_POOL" help:"connections to Redis each instance keeps at most, shared by the idempotency store and the rate limiter; calls beyond them wait (orderflow_redis_pool_waits_total) (default the Redis URL's pool_size, else a quarter of --max-in-flight, at least 10 per CPU: 250)"`
	Lease             time.Duration `arg:"--lease,env:ORDERFLOW_LEASE" help:"idempotency lease: how long a killed process blocks its order attempts (default 60s)"`
	RedisPrefix       string        `arg:"--redis-prefix,env:ORDERFLOW_REDIS_PREFIX" help:"Redis key namespace, unique per deployment (default: orderflow for --prefix orders., else orderflow:<prefix>)"`
	MaxRequestBytes   uint          `arg:"--max-request-bytes,env:ORDERFLOW_MAX_REQUEST_BYTES" help:"largest encoded order request accepted; larger ones are dead-lettered (fix-input) before anything is created (default 262144)"`
	MaxItems          uint          `arg:"--max-items,env:ORDERFLOW_MAX_ITEMS" help:"most items (lines) per order (default 100)"`
	MaxQuantity       uint          `arg:"--max-quantity,env:ORDERFLOW_MAX_QUANTITY" help:"largest quantity per line (default 1000)"`
	MaxLineAmount     uint64        `arg:"--max-line-amount,env:ORDERFLOW_MAX_LINE_AMOUNT" help:"largest price_cents x quantity per line, in the currency's minor units (default 5000000)"`
	MaxOrderAmount    uint64        `arg:"--max-order-amount,env:ORDERFLOW_MAX_ORDER_AMOUNT" help:"largest sum of the lines per order, in minor units (default 10000000)"`
	StartTimeout      time.Duration `arg:"--start-timeout,env:ORDERFLOW_START_TIMEOUT" default:"2m" help:"keep retrying to reach Kafka, the registry and Redis at startup this long"`
	MetricsAddr       string        `arg:"--metrics-addr,env:ORDERFLOW_METRICS_ADDR" help:"serve Prometheus metrics at http://ADDR/metrics, liveness at /healthz and readiness at /readyz (off when empty)"`
	Pprof             bool          `arg:"--pprof,env:ORDERFLOW_PPROF" help:"also serve net/http/pprof at http://ADDR/debug/pprof/ on the metrics server (needs --metrics-addr; off by default: profiles show what the process is doing)"`
	tracingFlags                    // tracing.go

	// Secrets from files (resolveSecrets), and Kafka's TLS and SASL.
	RyeKeyFile string `arg:"--rye-key-file,env:ORDERFLOW_RYE_KEY_FILE" help:"file holding the Rye API key (instead of --rye-key, which shows in ps)"`
	DRKeyFile  string `arg:"--dr-key-file,env:ORDERFLOW_DR_KEY_FILE" help:"file holding the Digital River confidential key (instead of --dr-key)"`
	kafkaFlags
}

func (c *runCmd) run(ctx context.Context, log *slog.Logger) error {
	kafkaOpts, err := prologue(c)
	if err != nil {
		return err
	}
	embeddedKafka := len(c.Brokers) == 0
	sbCfg := sandbox.Demo()
	env, err := embedded.Start(embedded.Config{Brokers: c.Brokers, RegistryURL: c.Registry, RedisURL: c.Redis, Sandbox: sbCfg})
	if err != nil {
		return err
	}
	defer env.Close()
	cfg := service.Config{
		Brokers: env.Brokers, RegistryURL: env.RegistryURL, RedisURL: env.RedisURL, MaxInFlight: int(min(c.MaxInFlight, math.MaxInt32)),
		RedisPoolSize: int(min(c.RedisPool, math.MaxInt32)),
		Topology:      topology.Topology{Prefix: c.Prefix}, Roles: c.roles(), Logger: log, Version: buildVersion(),
		LookupSchemas: !c.RegisterSchemas,
	}
	if c.Registry != "" {
		if cfg.RegistryOpts, err = c.registryFlags.opts(c.Registry); err != nil {
			return err
		}
	}
	if c.Redis != "" {
		rc, err := c.redisFlags.conn(c.Redis)
		if err != nil {
			return err
		}
		cfg.RedisUser, cfg.RedisPassword, cfg.RedisTLS = rc.user, rc.password, rc.tls
	}
	cfg.Redis.Prefix = c.RedisPrefix // empty: derived from the topic prefix
	cfg.KafkaOpts = kafkaOpts
	if embeddedKafka {
		// The embedded demo runs the seeds' clocks 150x faster (oracle.Demo).
		cfg.Processor = oracle.Demo.Processor()
		cfg.Topology.Tiers = slices.Clone(oracle.Demo.Tiers)
		cfg.Topology.Partitions = 16
		// The sandbox enforces no limits in the demo; keep the shared limiter in the path with
		// room for the demo's rate.
		cfg.RateLimits = map[string]ratelimit.Limits{}
		for _, d := range registered() {
			cfg.RateLimits[d.Name] = ratelimit.Limits{Submit: 500, Other: 2000}
		}
	}
	c.override(&cfg)
	// The clients are built for the configuration's concurrency: their connection pools follow
	// the in-flight cap (service.Config.ProviderConns).
	if cfg.Providers, err = c.providers(env, sbCfg, cfg.ProviderConns()); err != nil {
		return err
	}
	// Stopped after the service is closed (deferred first): its last spans are flushed.
	tr, stopTracing, err := c.startTracing(ctx, cfg.Roles, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.Tracing = tr
	hc := &health{log: log}
	if c.MetricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		cfg.Registerer = reg
		stopMetrics, err := serveMetrics(c.MetricsAddr, metricsMux(reg, hc, c.Pprof))
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	svc, err := startService(ctx, cfg, c.StartTimeout, log)
	if err != nil {
		return err
	}
	defer svc.Close()
	hc.set(svc)

	// URLs may carry credentials (redis://:password@host): the banner shows them redacted.
	fmt.Printf("orderflow: kafka %s, registry %s, redis %s, sandbox %s\n", strings.Join(env.Brokers, ","), redactURL(env.RegistryURL), redactURL(env.RedisURL), redactURL(env.SandboxURL))
	if env.SandboxLimits != "" {
		fmt.Printf("orderflow: %s\n", env.SandboxLimits) // the embedded demo lifts the simulators' real limits: say so
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(gctx) })
	if !c.demo(embeddedKafka) {
		fmt.Println("orderflow: running roles; Ctrl-C to stop")
		return g.Wait()
	}
	d := &demoRun{cmd: c, svc: svc, env: env, follow: oracle.NewFollower(svc.Producer().Codec()), wants: map[string]demo.Scenario{}}
	d.tally = d.follow.Tally
	g.Go(func() error { return d.follow.Run(gctx, env.Brokers, cfg.KafkaOpts, cfg.Topology.Status()) })
	g.Go(func() error { return d.send(gctx) })
	g.Go(func() error {
		d.report(gctx, os.Stdout)
		cancel() // --orders reached, or interrupted
		return nil
	})
	if err := g.Wait(); err != nil && gctx.Err() == nil {
		return err
	}
	return d.final(os.Stdout)
}

// startService builds the service, retrying with a capped, jittered backoff while a
// dependency is unreachable (a broker restarting, say), for at most timeout. A dependency that
// refuses the configuration (Redis, registry or Kafka credentials, a registry key that may not
// register, a schema missing with --register-schemas=false, a certificate that does not verify)
// ends it at once with a *service.ConfigError.
func startService(ctx context.Context, cfg service.Config, timeout time.Duration, log *slog.Logger) (*service.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b := backoff.New(250*time.Millisecond, 5*time.Second)
	var svc *service.Service
	var last error
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 30*time.Second)
		defer cancelAttempt()
		if svc, last = service.New(attemptCtx, cfg); last != nil {
			if errors.As(last, new(*service.ConfigError)) {
				return last // refused, not unreachable: retrying can not help
			}
			log.Warn("starting: a dependency is not reachable yet; retrying", "err", last)
			return retry.RetryableError(last)
		}
		return nil
	})
	if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
		return nil, parent // interrupted while starting: a clean stop
	}
	if err != nil && last != nil {
		err = last
	}
	if errors.As(err, new(*service.ConfigError)) {
		return nil, fmt.Errorf("starting orderflow: %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("starting orderflow (gave up after %v): %w", timeout, err)
	}
	return svc, nil
}

// metricsMux serves reg at /metrics and hc at /healthz and /readyz; with withPprof also the
// runtime profiles of net/http/pprof under /debug/pprof/ (index, cmdline, profile, symbol,
// trace and the named profiles: heap, goroutine, allocs...).
func metricsMux(reg *prometheus.Registry, hc *health, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", hc.healthz)
	mux.HandleFunc("GET /readyz", hc.readyz)
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index) // the named profiles, by path
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serveMetrics serves h (metricsMux) at addr until the returned func is called.
func serveMetrics(addr string, h http.Handler) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("orderflow: metrics at http://%s/metrics, health at /healthz and /readyz\n", ln.Addr())
	return func() { _ = srv.Close() }, nil
}

// override applies the tuning flags on top of the defaults.
func (c *runCmd) override(cfg *service.Config) {
	if c.FirstPoll > 0 {
		cfg.Processor.FirstPoll = c.FirstPoll
	}
	if c.PollInterval > 0 {
		cfg.Processor.PollInterval = c.PollInterval
	}
	if c.NeverStartedAfter > 0 {
		cfg.Processor.NeverStartedAfter = c.NeverStartedAfter
	}
	if c.StuckAfter > 0 {
		cfg.Processor.StuckAfter = c.StuckAfter
	}
	if c.ActionTimeout > 0 {
		cfg.Processor.ActionTimeout = c.ActionTimeout
	}
	if c.MaxResubmits > 0 {
		cfg.Processor.MaxResubmits = int(c.MaxResubmits)
	}
	// Request limits (0 keeps the default; the flags are unsigned, so never negative).
	lim := &cfg.Processor.Limits
	lim.MaxRequestBytes, lim.MaxItems, lim.MaxQuantity = clampInt(c.MaxRequestBytes), clampInt(c.MaxItems), clampInt(c.MaxQuantity)
	lim.MaxLineCents, lim.MaxOrderCents = int64(min(c.MaxLineAmount, math.MaxInt64)), int64(min(c.MaxOrderAmount, math.MaxInt64))
	if tiers, _ := c.tiers(); len(tiers) > 0 { // validated
		cfg.Topology.Tiers = nil
		for _, d := range tiers {
			cfg.Topology.Tiers = append(cfg.Topology.Tiers, topology.Tier{Name: d.String(), Delay: d})
		}
	}
	if c.Lease > 0 {
		cfg.Redis.Lease = c.Lease
	}
	if c.SessionTimeout > 0 {
		cfg.ConsumerOpts = append(cfg.ConsumerOpts, kgo.SessionTimeout(c.SessionTimeout), kgo.HeartbeatInterval(c.SessionTimeout/5))
	}
	cfg.RateLimits = overrideLimits(registered(), c.flags(), cfg.RateLimits)
}

func clampInt(v uint) int { return int(min(v, math.MaxInt)) }

func (c *runCmd) demo(embeddedKafka bool) bool {
	if c.Demo != nil {
		return *c.Demo
	}
	return embeddedKafka
}

// providers builds the sandbox's clients and, replacing them, those of the real endpoints the
// flags give, every one with a connection pool for maxConns calls at once.
func (c *runCmd) providers(env *embedded.Env, sbCfg sandbox.Config, maxConns int) (map[string]provider.Provider, error) {
	ps, err := env.ProvidersSized(sbCfg, maxConns)
	if err != nil {
		return nil, err
	}
	given, err := realProviders(registered(), c.flags(), maxConns)
	if err != nil {
		return nil, err
	}
	maps.Copy(ps, given) // a real endpoint replaces the sandbox's
	return ps, nil
}

// demoRun sends demo orders and follows their outcomes.
type demoRun struct {
	cmd    *runCmd
	svc    *service.Service
	env    *embedded.Env
	follow *oracle.Follower
	tally  *demo.Tally // follow's
	start  time.Time

	mu    sync.Mutex
	sent  int
	wants map[string]demo.Scenario // order id -> its scenario
}

func (d *demoRun) send(ctx context.Context) error {
	scenarios := demo.All()
	if d.cmd.Skeleton {
		scenarios = demo.Skeleton
	}
	gen := demo.Generator{Prefix: fmt.Sprintf("demo-%d-", time.Now().Unix()), Scenarios: scenarios}
	tick := time.NewTicker(time.Duration(float64(time.Second) / max(d.cmd.Rate, 0.1)))
	defer tick.Stop()
	for {
		if d.cmd.Orders > 0 && d.count() >= d.cmd.Orders {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		o := gen.Next()
		d.mu.Lock()
		d.wants[o.Request.OrderID] = o.Scenario
		d.sent++
		d.mu.Unlock()
		d.tally.Expect(o.Request)
		if err := d.svc.Producer().RequestOrder(ctx, o.Request); err != nil {
			return err
		}
	}
}

func (d *demoRun) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sent
}

// report prints a live summary every second until --orders orders finished or ctx ends.
func (d *demoRun) report(ctx context.Context, w io.Writer) {
	d.start = time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.tally.Changed():
			if d.cmd.Orders == 0 || d.tally.Finished() < d.cmd.Orders {
				continue
			}
		}
		fin := d.tally.Finished()
		fmt.Fprintf(w, "[%5.1fs] sent %d, finished %d | %s\n", time.Since(d.start).Seconds(), d.count(), fin, d.tally.Summary())
		if d.cmd.Orders > 0 && fin >= d.cmd.Orders {
			return
		}
	}
}

// final prints the tally, the ledger audit and any order whose outcome differs from its scenario.
func (d *demoRun) final(w io.Writer) error {
	fmt.Fprintf(w, "\nfinal tally after %.1fs: %d orders sent, %d finished\n", time.Since(d.start).Seconds(), d.count(), d.tally.Finished())
	for _, line := range strings.Split(strings.ReplaceAll(d.tally.Summary(), "  ", "\n"), "\n") {
		if line != "" {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	entries := d.env.Sandbox.Ledger().Entries()
	double := oracle.NoDoubleSubmit(entries)
	fmt.Fprintf(w, "sandbox ledger: %d carts/checkouts submitted, %d order attempts submitted twice\n", len(entries), len(double))
	d.mu.Lock()
	defer d.mu.Unlock()
	// Strict: any other outcome than the scenario's is a mismatch. Orders still under way when
	// the demo stopped are none.
	var mismatched []oracle.Finding
	for _, f := range oracle.Outcomes(d.wants, d.tally, entries, true) {
		if f.Check != oracle.CheckUnfinished {
			mismatched = append(mismatched, f)
		}
	}
	for _, m := range mismatched {
		fmt.Fprintln(w, "  unexpected:", m.Detail)
	}
	if len(mismatched) > 0 || len(double) > 0 {
		return errMismatch
	}
	return nil
}
