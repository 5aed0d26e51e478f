// Package service assembles orderflow's roles from explicit dependencies: Kafka brokers, a
// schema registry, Redis and the checkout providers. cmd/orderflow and the end-to-end tests
// build the same Service; only where the dependencies live differs.
package service

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
	"golang.org/x/sync/errgroup"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/ratelimit"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// Roles.
const (
	RoleWorker     = "worker"
	RoleTracker    = "tracker"
	RoleReconciler = "reconciler"
)

// AllRoles is every role, the default of Config.Roles.
var AllRoles = []string{RoleWorker, RoleTracker, RoleReconciler}

// Config configures a Service.
type Config struct {
	Brokers     []string // required
	RegistryURL string   // Confluent-compatible schema registry, required
	// RegistryOpts are extra options of the schema registry client: sr.BasicAuth,
	// sr.DialTLSConfig for an https:// registry with a private CA or a client certificate.
	RegistryOpts []sr.ClientOpt
	// LookupSchemas only looks the schemas up at startup instead of registering them (see
	// producer.Config.LookupSchemas): for a read-only registry key.
	LookupSchemas bool
	// RedisURL is redis://[user:password@]host:port/db, rediss:// for TLS, or unix://; required.
	RedisURL string
	// RedisTLS is the TLS configuration of a rediss:// RedisURL (the CAs to trust, a client
	// certificate); nil: the system roots. See RedisOptions.
	RedisTLS *tls.Config
	// RedisUser and RedisPassword are Redis ACL credentials; set, each replaces the URL's, so the
	// password need not be in a URL.
	RedisUser, RedisPassword string
	// RedisPoolSize caps the Redis connections (the store's and the limiter's); calls beyond
	// them wait for one (orderflow_redis_pool_waits_total). Unset: RedisURL's pool_size, else
	// DefaultRedisPool of MaxInFlight (see RedisPool).
	RedisPoolSize int

	Providers map[string]provider.Provider
	Topology  topology.Topology
	// Roles to run. Default AllRoles.
	Roles []string
	// Processor tunes the roles (poll interval, thresholds, policy); New builds their runtime.
	Processor processor.Settings
	// MaxInFlight per role. Default consumer.DefaultMaxInFlight. Size the provider clients'
	// connection pools with ProviderConns, which follows it.
	MaxInFlight int
	// KafkaOpts are extra franz-go options for every client (TLS, SASL, timeouts).
	KafkaOpts []kgo.Opt
	// ConsumerOpts are extra franz-go options for the role consumers only.
	ConsumerOpts []kgo.Opt
	// Redis tunes the idempotency store (prefix, lease, TTL). Redis.Prefix is the deployment's
	// Redis namespace, shared by the store and the rate limiter; empty = RedisPrefix of the
	// topology's prefix, so deployments apart in Kafka are apart in Redis too.
	Redis idempotency.Config
	// RateLimits per provider name, shared by every instance through Redis. A provider missing
	// here gets its descriptor's DefaultLimits (see Descriptors); ratelimit.Limits{} means
	// unlimited.
	RateLimits map[string]ratelimit.Limits
	Logger     *slog.Logger
	// Registerer gets every metric of the service (see metrics.go); nil registers nowhere.
	Registerer prometheus.Registerer
	// Version is the build's version for orderflow_build_info; empty = the main module's
	// version from the binary's build info.
	Version string
	// Tracing, when not nil, adds OpenTelemetry spans: kotel's hooks on every Kafka client and a
	// process span per handled record (tracing.Tracing.Middleware). Nil: no spans, no hooks.
	// Its Shutdown is the caller's, after Close.
	Tracing *tracing.Tracing
	// Descriptors describe the providers: every provider of Providers without a RateLimits
	// entry must have one (Validate refuses it otherwise, rather than run it unlimited).
	// Default providers.All().
	Descriptors []provider.Descriptor
	// DependencyInterval is how often Run checks Redis, the registry and Kafka for
	// orderflow_dependency_up (dependencies.go). Default DefaultDependencyInterval.
	DependencyInterval time.Duration
}

// providerCallers are the roles whose records call providers: the worker creates and submits
// carts, the tracker polls placement. The reconciler only reads Kafka and Redis.
var providerCallers = []string{RoleWorker, RoleTracker}

// ProviderConns is how many provider calls c's roles carry at once, at most: the in-flight cap
// (MaxInFlight, default consumer.DefaultMaxInFlight) of each role that calls providers, each
// record making one call at a time. It is what provider.Settings.MaxConns of the clients in
// Providers should be, so the connection pools follow the cap.
func (c Config) ProviderConns() int {
	perRole := c.MaxInFlight
	if perRole <= 0 {
		perRole = consumer.DefaultMaxInFlight
	}
	roles := c.Roles
	if len(roles) == 0 {
		roles = AllRoles
	}
	n := 0
	for _, r := range providerCallers {
		if slices.Contains(roles, r) {
			n += perRole
		}
	}
	return max(n, 1)
}

// WithDefaults returns c with the fields not set at their defaults: every role, the registered
// providers' descriptors, a discarding logger, the dependency interval, the topology's defaults
// and the Redis namespace derived from the topic prefix.
func (c Config) WithDefaults() Config {
	if len(c.Roles) == 0 {
		c.Roles = AllRoles
	}
	if c.Descriptors == nil {
		c.Descriptors = providers.All()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DependencyInterval <= 0 {
		c.DependencyInterval = DefaultDependencyInterval
	}
	c.Topology = c.Topology.WithDefaults()
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = RedisPrefix(c.Topology.Prefix)
	}
	return c
}

// RedisPool is the size of the Redis pool New gives the client: RedisPoolSize when set, else
// fromURL (RedisURL's pool_size) when set, else DefaultRedisPool(MaxInFlight).
func (c Config) RedisPool(fromURL int) int {
	switch {
	case c.RedisPoolSize > 0:
		return c.RedisPoolSize
	case fromURL > 0:
		return fromURL
	}
	return DefaultRedisPool(c.MaxInFlight)
}

// DefaultRedisPool is the Redis pool of an instance whose roles hold maxInFlight records each
// (0: consumer.DefaultMaxInFlight): a quarter of that, and at least go-redis's own 10 per CPU.
// A record calls Redis for a small part of its time, so a quarter carries the cap with few
// waits: make bench-e2e-real (10,000 orders, one run each) placed 781/s with go-redis's 20
// (4.4 waits of 116 ms per order), 898/s with 200 (1.6 of 52 ms) and 1,003/s with 1,000 (none).
// Not the full cap: every instance's pool counts against Redis's maxclients (10,000 by default).
func DefaultRedisPool(maxInFlight int) int {
	if maxInFlight <= 0 {
		maxInFlight = consumer.DefaultMaxInFlight
	}
	return max(10*runtime.GOMAXPROCS(0), maxInFlight/4)
}

// Validate checks c (after WithDefaults); it changes nothing.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("service: no brokers")
	case c.RegistryURL == "":
		return errors.New("service: no schema registry url")
	case c.RedisURL == "":
		return errors.New("service: no redis url")
	case len(c.Providers) == 0:
		return errors.New("service: no providers")
	}
	for name := range c.Providers {
		if _, limited := c.RateLimits[name]; limited {
			continue
		}
		if _, ok := provider.Find(c.Descriptors, name); !ok {
			return fmt.Errorf("service: provider %q has no descriptor and no RateLimits entry: its limits are unknown", name)
		}
	}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			return fmt.Errorf("service: unknown role %q", r)
		}
	}
	if err := c.Topology.Validate(); err != nil {
		return err
	}
	if strings.IndexFunc(c.Topology.Prefix, notInKafkaNames) >= 0 {
		return fmt.Errorf("service: topic prefix %q: Kafka names allow only ASCII letters, digits, '.', '_' and '-'", c.Topology.Prefix)
	}
	return nil
}

// RedisPrefix is the Redis namespace of a deployment whose topics and groups are prefixed
// topicPrefix: "orderflow" for the default "orders." (the namespace of every deployment before
// namespaces were derived, so an upgrade keeps the records of attempts in flight), else
// "orderflow:" + topicPrefix. Kafka names can not hold ':', so distinct topic prefixes give
// disjoint key spaces: idempotency records, histories, attempt allocations and rate limits.
func RedisPrefix(topicPrefix string) string {
	if topicPrefix == topology.Default().Prefix {
		return "orderflow"
	}
	return "orderflow:" + topicPrefix
}

func notInKafkaNames(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
}

// ConfigError is an error retrying can not fix: the Config is invalid, or a dependency refused
// it (Redis rejected the credentials or the database, the schema registry answered 401 or 403
// or lacks a schema to look up, Kafka refused the SASL credentials, the TLS certificate or the
// user's permissions, a certificate does not verify). New returns every such error as one, so
// a caller that retries New while dependencies come up stops at once.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Service runs the configured roles.
type Service struct {
	cfg       Config
	rdb       *redis.Client
	producer  *producer.Producer
	consumers map[string]*consumer.Consumer
	roles     processor.Roles
	ready     readiness // for Ready (health.go) and the dependency watch
	// dependencyUp is orderflow_dependency_up, set by the dependency watch (dependencies.go).
	dependencyUp *prometheus.GaugeVec
}

// New connects to every dependency, creates missing topics, registers the schemas (or, with
// LookupSchemas, looks them up) and builds the roles. It returns no half-built Service: on error everything opened is closed.
func New(ctx context.Context, cfg Config) (_ *Service, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, &ConfigError{err}
	}
	s := &Service{cfg: cfg, consumers: map[string]*consumer.Consumer{}}

	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	opt, err := RedisOptions(cfg.RedisURL, cfg.RedisUser, cfg.RedisPassword, cfg.RedisTLS)
	if err != nil {
		return nil, &ConfigError{err}
	}
	opt.PoolSize = cfg.RedisPool(opt.PoolSize)
	s.rdb = redis.NewClient(opt)
	store, err := idempotency.New(s.rdb, cfg.Redis)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if err := pingRedis(ctx, s.rdb, opt); err != nil {
		return nil, err
	}
	reg, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(cfg.RegistryURL)}, cfg.RegistryOpts...)...)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("creating schema registry client: %w", err)}
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, s.kafkaOpts("admin", "")...)...)
	if err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	err = cfg.Topology.Ensure(ctx, kadm.NewClient(admCl))
	admCl.Close()
	if err != nil {
		return nil, kafkaError(err)
	}
	s.producer, err = producer.New(ctx, producer.Config{Brokers: cfg.Brokers, Registry: reg, Topology: cfg.Topology,
		LookupSchemas: cfg.LookupSchemas, Opts: s.kafkaOpts("producer", "")})
	if err != nil {
		if RegistryRefused(err) {
			return nil, &ConfigError{err}
		}
		return nil, kafkaError(err)
	}
	m, err := newMetrics(cfg.Registerer, cfg.Version)
	if err != nil {
		return nil, &ConfigError{err}
	}
	s.rdb.AddHook(m.redis) // every Redis call from here on is counted: the store's and the limiter's
	m.redis.pool.client.Store(s.rdb)
	limiter := ratelimit.New(s.rdb, store.Prefix(), ratelimit.WithMetrics(m.ratelimit))
	if err := errors.Join(store.LoadScripts(ctx), limiter.LoadScripts(ctx)); err != nil {
		return nil, err
	}
	providers := make(map[string]provider.Provider, len(cfg.Providers))
	for name, p := range cfg.Providers {
		lim, ok := cfg.RateLimits[name]
		if !ok {
			d, _ := provider.Find(cfg.Descriptors, name) // Validate made sure there is one
			lim = d.DefaultLimits
		}
		// Metrics inside the limiter: the latency is the provider's, a call it stopped is no call.
		providers[name] = ratelimit.Provider(m.provider.Wrap(p), limiter, lim)
	}
	s.roles, err = processor.NewRoles(&processor.Config{Settings: cfg.Processor, Store: store, Providers: providers,
		Events: s.producer, Codec: s.producer.Codec(), Topology: cfg.Topology, Metrics: m.processor, Logger: cfg.Logger})
	if err != nil {
		return nil, &ConfigError{err}
	}
	for _, role := range cfg.Roles {
		h, group, topics, err := s.role(role)
		if err != nil {
			return nil, err
		}
		// Every role's handler middleware, outermost first: Recover (a panic dead-letters its
		// record and the role keeps running; the stack goes to the log), then Propagate (every
		// record the handler produces carries the handled record's traceparent and tracestate),
		// then the tracing process span (a no-op without Tracing), whose context makes the
		// publish spans of those records its children.
		h = consumer.Chain(h, consumer.Recover(cfg.Logger.With("role", role)), consumer.Propagate(), cfg.Tracing.Middleware(role, group))
		c, err := consumer.New(consumer.Config{
			Brokers: cfg.Brokers, Group: group, Topics: topics, MaxInFlight: cfg.MaxInFlight,
			DeadLetter: cfg.Tracing.DeadLetter(s.roles.DeadLetter), Logger: cfg.Logger.With("role", role),
			Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"role": role}, registerer(cfg.Registerer)),
			Opts:       append(s.kafkaOpts(role, group), cfg.ConsumerOpts...),
		}, h)
		if err != nil {
			return nil, err
		}
		s.consumers[role] = c
	}
	s.dependencyUp = m.dependencyUp
	s.ready = readiness{rdb: s.rdb, reg: reg, kafka: s.producer.Client(), joined: map[string]*atomic.Bool{}}
	for _, role := range cfg.Roles {
		s.ready.joined[role] = new(atomic.Bool)
	}
	return s, nil
}

// pingRedis checks at startup that Redis answers and accepts the credentials and database,
// as Ensure does for Kafka: an unreachable Redis is an error the caller may retry, a refusal
// (wrong password or user, no permission, no such database) a *ConfigError.
func pingRedis(ctx context.Context, rdb *redis.Client, opt *redis.Options) error {
	err := rdb.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("connecting to redis at %s (db %d): %w", opt.Addr, opt.DB, err)
	if redis.IsAuthError(err) || redis.IsPermissionError(err) || strings.Contains(err.Error(), "DB index") || badCertificate(err) {
		return &ConfigError{err}
	}
	return err
}

// RedisOptions are the go-redis options of url (redis://, rediss:// or unix://) with user and
// password, when set, replacing the URL's, and tlsCfg, when set, replacing the default TLS
// configuration of a rediss:// URL (its ServerName, when empty, is the URL's host). TLS files for a
// redis:// URL are an error: TLS is the URL's choice. Errors never contain the password.
func RedisOptions(url, user, password string, tlsCfg *tls.Config) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// go-redis's messages quote the scheme or the database, not the URL.
		return nil, fmt.Errorf("parsing redis url: %w", err)
	}
	if user != "" {
		opt.Username = user
	}
	if password != "" {
		opt.Password = password
	}
	if tlsCfg != nil {
		if opt.TLSConfig == nil {
			return nil, errors.New("redis TLS settings given for a URL without TLS: use rediss://")
		}
		c := tlsCfg.Clone()
		if c.ServerName == "" {
			c.ServerName = opt.TLSConfig.ServerName
		}
		opt.TLSConfig = c
	}
	return opt, nil
}

// kafkaError is err from a Kafka request, a *ConfigError when the brokers refused the client's
// credentials, certificate or permissions (kafkasec.Refused) rather than being unreachable.
func kafkaError(err error) error {
	if kafkasec.Refused(err) {
		return &ConfigError{fmt.Errorf("kafka refused the connection's security settings: %w", err)}
	}
	return err
}

// RegistryRefused reports whether err from talking to the schema registry is one retrying can
// not fix: the registry refused the credentials or the operation (schemas.ErrRefused), a schema
// to look up is not registered (schemas.ErrNotRegistered), or its certificate does not verify.
func RegistryRefused(err error) bool {
	return errors.Is(err, schemas.ErrRefused) || errors.Is(err, schemas.ErrNotRegistered) || badCertificate(err)
}

// badCertificate reports a server certificate that does not verify against the configured CAs
// or names another host: a configuration error, not an outage.
func badCertificate(err error) bool {
	return errors.As(err, new(*tls.CertificateVerificationError)) || errors.As(err, new(x509.UnknownAuthorityError)) ||
		errors.As(err, new(x509.HostnameError))
}

// kafkaOpts are the options of the franz-go client named name (of consumer group group, or
// ""): logs through slog, with a Registerer kprom metrics labelled client=name, with Tracing
// its hooks, then Config.KafkaOpts.
func (s *Service) kafkaOpts(name, group string) []kgo.Opt {
	opts := []kgo.Opt{kgo.WithLogger(kslog.New(s.cfg.Logger.With("component", "kgo", "client", name)))}
	if s.cfg.Registerer != nil {
		reg := prometheus.WrapRegistererWith(prometheus.Labels{"client": name}, s.cfg.Registerer)
		opts = append(opts, kgo.WithHooks(kprom.NewMetrics("orderflow_kafka", kprom.Registerer(reg))))
		if k, err := newKafkaRequests(s.cfg.Registerer, name); err == nil {
			opts = append(opts, kgo.WithHooks(k))
		} else {
			s.cfg.Logger.Warn("not counting Kafka requests", "err", err)
		}
	}
	opts = append(opts, s.cfg.Tracing.KafkaOpts(name, group)...)
	return append(opts, s.cfg.KafkaOpts...)
}

func registerer(r prometheus.Registerer) prometheus.Registerer {
	if r == nil {
		return prometheus.NewRegistry()
	}
	return r
}

func (s *Service) role(role string) (consumer.Handler, string, []string, error) {
	t := s.cfg.Topology
	switch role {
	case RoleWorker:
		return s.roles.Worker, t.WorkerGroup(), t.WorkerTopics(), nil
	case RoleTracker:
		return s.roles.Tracker, t.TrackerGroup(), []string{t.Tracking()}, nil
	case RoleReconciler:
		return s.roles.Reconciler, t.ReconcilerGroup(), []string{t.Failures()}, nil
	}
	return nil, "", nil, fmt.Errorf("service: unknown role %q", role)
}

// Producer is the service's producer (schemas registered), for sending order requests.
func (s *Service) Producer() *producer.Producer { return s.producer }

// Run runs every role until ctx ends or one fails, and meanwhile checks the dependencies every
// Config.DependencyInterval for orderflow_dependency_up.
func (s *Service) Run(ctx context.Context) error {
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watchDependencies(watchCtx)
	}()
	defer func() {
		stopWatch() // the roles ended: so does the watch
		<-watched
	}()
	g, ctx := errgroup.WithContext(ctx)
	for role, c := range s.consumers {
		g.Go(func() error {
			if err := c.Run(ctx); err != nil {
				return fmt.Errorf("running %s: %w", role, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// Close releases every client. It is idempotent.
func (s *Service) Close() {
	for _, c := range s.consumers {
		c.Close()
	}
	if s.producer != nil {
		s.producer.Close()
		s.producer = nil
	}
	if s.rdb != nil {
		s.rdb.Close()
		s.rdb = nil
	}
}
