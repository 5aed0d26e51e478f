// Package embedded starts everything orderflow depends on inside the process: an in-memory
// Kafka (kfake), Redis (miniredis), a schema registry (srfake) and the provider sandbox on
// 127.0.0.1. It is the default of `orderflow run` and the fast test stack. Any dependency
// given in Config is used as is instead, which is how the same tests run on real services.
package embedded

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/sandbox"
)

// Config chooses what to start. Empty fields are started in process.
type Config struct {
	Brokers     []string
	RegistryURL string
	RedisURL    string
	// Sandbox configures the provider sandbox, which always runs in process, with a simulator
	// of every provider of Sandbox.Providers (default providers.All()). Simulator rate limits
	// left at zero are lifted (sandbox.Config.LiftLimits) rather than real: see Start.
	Sandbox sandbox.Config
}

// Env is a running set of dependencies.
type Env struct {
	Brokers     []string
	RegistryURL string
	RedisURL    string
	SandboxURL  string
	Sandbox     *sandbox.Sandbox
	// SandboxLimits describes the rate limits the sandbox's simulators enforce, for banners.
	SandboxLimits string
	// Kafka and Redis are set when started in process, for fault injection in tests.
	Kafka *kfake.Cluster
	Redis *miniredis.Miniredis

	closers []func()
}

// Start starts what cfg leaves empty. On error nothing is left running.
func Start(cfg Config) (_ *Env, err error) {
	e := &Env{Brokers: cfg.Brokers, RegistryURL: cfg.RegistryURL, RedisURL: cfg.RedisURL}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if len(e.Brokers) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(16),
			kfake.GroupMinSessionTimeout(100*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("starting kfake: %w", err)
		}
		e.Kafka, e.Brokers = c, c.ListenAddrs()
		e.closers = append(e.closers, c.Close)
	}
	if e.RegistryURL == "" {
		reg := srfake.New()
		e.RegistryURL = reg.URL()
		e.closers = append(e.closers, reg.Close)
	}
	if e.RedisURL == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("starting miniredis: %w", err)
		}
		e.Redis, e.RedisURL = mr, "redis://"+mr.Addr()+"/0"
		e.closers = append(e.closers, mr.Close)
	}
	// The Rye simulator enforces Rye's real rate limits by default (1 createCart/submitCart per
	// second per key). The embedded stack runs the demo (20 orders/s) and the test suites,
	// which need far more, so limits the config leaves at zero are lifted; a config that sets
	// them (ryefake.RealStrictRPS, say) keeps them. Said in the log and in Env.SandboxLimits.
	sbCfg, limits := cfg.Sandbox.LiftLimits()
	e.SandboxLimits = limits
	sbCfg.Logger().Info("embedded: " + limits)
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		return nil, err
	}
	url, shutdown, err := sb.Start("")
	if err != nil {
		return nil, err
	}
	e.Sandbox, e.SandboxURL = sb, url
	e.closers = append(e.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(ctx)
	})
	return e, nil
}

// Providers returns a client of every simulator the sandbox serves, keyed by provider name,
// built by the provider's descriptor. cfg is the sandbox configuration Start was given: its
// Providers are the descriptors (default providers.All()).
func (e *Env) Providers(cfg sandbox.Config) (map[string]provider.Provider, error) {
	return e.ProvidersSized(cfg, 0)
}

// ProvidersSized is Providers with each client's connection pool sized for maxConns calls at
// once (provider.Settings.MaxConns; 0: provider.DefaultMaxConns): service.Config.ProviderConns.
func (e *Env) ProvidersSized(cfg sandbox.Config, maxConns int) (map[string]provider.Provider, error) {
	descs := cfg.Providers
	if descs == nil {
		descs = providers.All()
	}
	ps := map[string]provider.Provider{}
	for _, m := range e.Sandbox.Mounts() {
		d, ok := provider.Find(descs, m.Provider)
		if !ok {
			return nil, fmt.Errorf("no descriptor of provider %q, which the sandbox serves", m.Provider)
		}
		p, err := d.New(provider.Settings{BaseURL: e.SandboxURL + m.Prefix, APIKey: m.APIKey, MaxConns: maxConns})
		if err != nil {
			return nil, fmt.Errorf("creating the %s client: %w", d.Name, err)
		}
		ps[d.Name] = p
	}
	return ps, nil
}

// Close stops everything Start started, in reverse order. It is idempotent.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}
