// Package sandbox is the local simulator of both checkout providers, served as one
// http.Handler so that tests and embedded runs talk HTTP to it exactly as to the real APIs:
//
//	/rye/v1/query   Rye GraphQL (package sandbox/rye)
//	/dr/...         Digital River REST (package sandbox/digitalriver, mounted by the lead)
//	GET /ledger     every submitted cart or consumed checkout (package sandbox/ledger)
//
// Both providers record into one shared ledger, which is what double-charge audits read.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/orderflow/orderflow/sandbox/digitalriver"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/sandbox/rye"
)

// Mount points of the providers; a provider's base URL is the sandbox URL plus its prefix.
const (
	RyePrefix          = "/rye"
	DigitalRiverPrefix = "/dr"
	LedgerPath         = "/ledger"
)

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	// Rye configures the Rye sandbox; see rye.Config for defaults (API key rye.DefaultAPIKey,
	// Rye's real rate limits: 1 req/s strict tier, 100 req/s default tier; rye.Unlimited lifts them).
	Rye rye.Config

	// DigitalRiver configures the Digital River sandbox. An empty APIKey means
	// DigitalRiverAPIKey.
	DigitalRiver digitalriver.Config
}

// DigitalRiverAPIKey is the Digital River sandbox's key when Config.DigitalRiver.APIKey is empty.
const DigitalRiverAPIKey = "sk_test_orderflow_sandbox"

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
	return nil
}

// Sandbox serves every simulated provider and the shared ledger.
type Sandbox struct {
	ledger *ledger.Ledger
	rye    *rye.Server
	mux    *http.ServeMux
}

// New builds a Sandbox with an empty ledger.
func New(cfg Config) (*Sandbox, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating sandbox config: %w", err)
	}
	l := ledger.New()
	ryeSrv, err := rye.New(cfg.Rye, l)
	if err != nil {
		return nil, fmt.Errorf("creating rye sandbox: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(RyePrefix+"/", http.StripPrefix(RyePrefix, ryeSrv))
	mux.Handle("GET "+LedgerPath, l)

	drCfg := cfg.DigitalRiver
	if drCfg.APIKey == "" {
		drCfg.APIKey = DigitalRiverAPIKey
	}
	dr, err := digitalriver.NewHandler(drCfg, l)
	if err != nil {
		return nil, fmt.Errorf("creating digital river sandbox: %w", err)
	}
	mux.Handle(DigitalRiverPrefix+"/", http.StripPrefix(DigitalRiverPrefix, dr))

	return &Sandbox{ledger: l, rye: ryeSrv, mux: mux}, nil
}

// ServeHTTP routes to the providers and the ledger.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Ledger is the ledger every provider of this sandbox records into.
func (s *Sandbox) Ledger() *ledger.Ledger { return s.ledger }

// Rye is the Rye sandbox, for tests that need its configuration or want to close it.
func (s *Sandbox) Rye() *rye.Server { return s.rye }

// Close stops the providers' background timers. It is idempotent.
func (s *Sandbox) Close() error {
	return s.rye.Close()
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
