// Package sandbox is the local simulator of every checkout provider, served as one
// http.Handler so that tests and embedded runs talk HTTP to it exactly as to the real APIs:
//
//	/rye/v1/query   Rye GraphQL (package sandbox/ryefake)
//	/dr/...         Digital River REST (package sandbox/drfake)
//	GET /ledger     every submitted cart or consumed checkout (package sandbox/ledger)
//
// Each provider's descriptor (provider.Descriptor: SandboxPrefix, Sandbox) says where and how
// its simulator is mounted; the sandbox serves those of Config.Providers. Every simulator
// records into one shared ledger, which is what double-charge audits read.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// Mount points of the built-in providers (their descriptors' SandboxPrefix); a provider's base
// URL is the sandbox URL plus its prefix.
const (
	RyePrefix          = rye.SandboxPrefix
	DigitalRiverPrefix = digitalriver.SandboxPrefix
	LedgerPath         = "/ledger"
)

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	// Rye configures the Rye simulator; see ryefake.Config for defaults (API key
	// ryefake.DefaultAPIKey, Rye's real rate limits: 1 req/s strict tier, 100 req/s default
	// tier; ryefake.Unlimited lifts them).
	Rye ryefake.Config

	// DigitalRiver configures the Digital River simulator. An empty APIKey means
	// DigitalRiverAPIKey.
	DigitalRiver drfake.Config

	// Options configures the simulators of other providers, by provider name: the value is
	// passed to the descriptor's Sandbox as is (nil = its defaults).
	Options map[string]any

	// Providers are the providers whose simulators are served. Default providers.All().
	Providers []provider.Descriptor
}

// Demo is the configuration of `orderflow run`'s embedded sandbox: placement events 100 ms
// apart, so demo orders settle in well under a second.
func Demo() Config {
	return Config{Rye: ryefake.Config{PlacementStep: 100 * time.Millisecond}}
}

// DigitalRiverAPIKey is the Digital River sandbox's key when Config.DigitalRiver.APIKey is empty.
const DigitalRiverAPIKey = drfake.DefaultAPIKey

// descriptors are the providers c serves.
func (c Config) descriptors() []provider.Descriptor {
	if c.Providers == nil {
		return providers.All()
	}
	return c.Providers
}

// options is the simulator configuration of provider name.
func (c Config) options(name string) any {
	switch name {
	case rye.Name:
		return c.Rye
	case digitalriver.Name:
		return c.DigitalRiver
	}
	return c.Options[name]
}

// Validate reports a config New would reject.
func (c Config) Validate() error {
	if err := c.Rye.Validate(); err != nil {
		return fmt.Errorf("rye: %w", err)
	}
	dr := c.DigitalRiver
	if dr.APIKey == "" {
		dr.APIKey = DigitalRiverAPIKey
	}
	if err := dr.Validate(); err != nil {
		return fmt.Errorf("digital river: %w", err)
	}
	for _, d := range c.descriptors() {
		if err := d.Validate(); err != nil {
			return err
		}
	}
	for name := range c.Options {
		if _, ok := provider.Find(c.descriptors(), name); !ok {
			return fmt.Errorf("options for provider %q, which the sandbox does not serve", name)
		}
	}
	return nil
}

// LiftLimits returns c with the simulators' rate limits that c leaves at zero lifted (the Rye
// simulator enforces Rye's real 1/s and 100/s by default), and a sentence saying which limits
// the sandbox then enforces, for banners and logs.
func (c Config) LiftLimits() (Config, string) {
	if c.Rye.StrictRPS == 0 {
		c.Rye.StrictRPS = ryefake.Unlimited
	}
	if c.Rye.DefaultRPS == 0 {
		c.Rye.DefaultRPS = ryefake.Unlimited
	}
	strict, def := c.Rye.RateLimits()
	return c, fmt.Sprintf("Rye sandbox rate limits: strict %s, default %s (real Rye: 1/s, 100/s)", rate(strict), rate(def))
}

// Logger is where the simulators log: the Rye simulator's logger, else slog.Default().
func (c Config) Logger() *slog.Logger {
	if c.Rye.Logger != nil {
		return c.Rye.Logger
	}
	return slog.Default()
}

func rate(rps float64) string {
	if rps < 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s", rps)
}

// Sandbox serves every simulated provider and the shared ledger.
type Sandbox struct {
	ledger *ledger.Ledger
	mux    *http.ServeMux
	mounts []Mount
	closes []func() error
}

// Mount is one provider's simulator as the sandbox serves it.
type Mount struct {
	Provider string
	// Prefix is its path under the sandbox URL: a client's BaseURL is the URL plus Prefix.
	Prefix string
	// APIKey is the key the simulator accepts. It is a test key, but still never logged.
	APIKey string
}

// New builds a Sandbox with an empty ledger.
func New(cfg Config) (_ *Sandbox, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating sandbox config: %w", err)
	}
	s := &Sandbox{ledger: ledger.New(), mux: http.NewServeMux()}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	s.mux.Handle("GET "+LedgerPath, s.ledger)
	for _, d := range cfg.descriptors() {
		sim, err := d.Sandbox(provider.SandboxConfig{Ledger: s.ledger, Options: cfg.options(d.Name)})
		if err != nil {
			return nil, fmt.Errorf("creating the %s sandbox: %w", d.Name, err)
		}
		if sim.Close != nil {
			s.closes = append(s.closes, sim.Close)
		}
		s.mux.Handle(d.SandboxPrefix+"/", http.StripPrefix(d.SandboxPrefix, sim.Handler))
		s.mounts = append(s.mounts, Mount{Provider: d.Name, Prefix: d.SandboxPrefix, APIKey: sim.APIKey})
	}
	return s, nil
}

// ServeHTTP routes to the providers and the ledger.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Ledger is the ledger every provider of this sandbox records into.
func (s *Sandbox) Ledger() *ledger.Ledger { return s.ledger }

// Mounts are the simulators served, in the order of Config.Providers.
func (s *Sandbox) Mounts() []Mount { return slices.Clone(s.mounts) }

// Close stops the providers' background timers. It is idempotent.
func (s *Sandbox) Close() error {
	var errs []error
	for _, c := range s.closes {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Start serves the sandbox on addr ("127.0.0.1:0" when empty) and returns its base URL
// (Rye at url+RyePrefix) and a shutdown func that stops serving within ctx's deadline and
// closes the sandbox. The sandbox is served until shutdown is called; shutdown is idempotent.
func (s *Sandbox) Start(addr string) (url string, shutdown func(context.Context) error, err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	var once sync.Once
	var shutdownErr error
	shutdown = func(ctx context.Context) error {
		once.Do(func() {
			err := srv.Shutdown(ctx)
			if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
				err = errors.Join(err, serveErr)
			}
			shutdownErr = errors.Join(err, s.Close())
		})
		return shutdownErr
	}
	return "http://" + ln.Addr().String(), shutdown, nil
}
