// Package embedded starts everything orderflow depends on inside the process: an in-memory
// Kafka (kfake), Redis (miniredis), a schema registry (srfake) and the provider sandbox on
// 127.0.0.1. It is the default of `orderflow run` and the fast test stack. Any dependency
// given in Config is used as is instead, which is how the same tests run on real services.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/provider"
	drclient "github.com/orderflow/orderflow/provider/digitalriver"
	ryeclient "github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/rye"
)

// Config chooses what to start. Empty fields are started in process.
type Config struct {
	Brokers     []string
	RegistryURL string
	RedisURL    string
	// Sandbox configures the provider sandbox, which always runs in process. Rye rate limits
	// left at zero are lifted (rye.Unlimited) rather than Rye's real 1/s and 100/s: see Start.
	Sandbox sandbox.Config
}

// Env is a running set of dependencies.
type Env struct {
	Brokers     []string
	RegistryURL string
	RedisURL    string
	SandboxURL  string
	Sandbox     *sandbox.Sandbox
	// RyeLimits describes the Rye sandbox's enforced rate limits, for banners.
	RyeLimits string
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
	// The Rye sandbox enforces Rye's real rate limits by default (1 createCart/submitCart per
	// second per key). The embedded stack runs the demo (20 orders/s) and the test suites,
	// which need far more, so limits the config leaves at zero are lifted; a config that sets
	// them (rye.RealStrictRPS, say) keeps them. Said in the log and in Env.RyeLimits.
	sbCfg := cfg.Sandbox
	if sbCfg.Rye.StrictRPS == 0 {
		sbCfg.Rye.StrictRPS = rye.Unlimited
	}
	if sbCfg.Rye.DefaultRPS == 0 {
		sbCfg.Rye.DefaultRPS = rye.Unlimited
	}
	strict, def := sbCfg.Rye.RateLimits()
	e.RyeLimits = fmt.Sprintf("Rye sandbox rate limits: strict %s, default %s (real Rye: 1/s, 100/s)", rate(strict), rate(def))
	log := sbCfg.Rye.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Info("embedded: " + e.RyeLimits)
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

func rate(rps float64) string {
	if rps < 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s", rps)
}

// Providers returns clients of the sandbox's providers, keyed by provider name.
func (e *Env) Providers(cfg sandbox.Config) (map[string]provider.Provider, error) {
	key := cfg.Rye.APIKey
	if key == "" {
		key = rye.DefaultAPIKey
	}
	r, err := ryeclient.New(ryeclient.Config{BaseURL: e.SandboxURL + sandbox.RyePrefix, APIKey: key})
	if err != nil {
		return nil, errors.Join(errors.New("creating the rye client"), err)
	}
	drKey := cfg.DigitalRiver.APIKey
	if drKey == "" {
		drKey = sandbox.DigitalRiverAPIKey
	}
	dr, err := drclient.New(drclient.Config{BaseURL: e.SandboxURL + sandbox.DigitalRiverPrefix, APIKey: drKey})
	if err != nil {
		return nil, errors.Join(errors.New("creating the digital river client"), err)
	}
	return map[string]provider.Provider{r.Name(): r, dr.Name(): dr}, nil
}

// Close stops everything Start started, in reverse order. It is idempotent.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}
