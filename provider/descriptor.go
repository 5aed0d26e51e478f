package provider

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// Descriptor is everything the rest of orderflow knows about one provider. Each adapter
// exports one (rye.Descriptor, digitalriver.Descriptor); package provider/providers lists them,
// and cmd, service, embedded, the sandbox and dlq iterate over that list instead of naming a
// provider. Validate states what a descriptor must hold.
type Descriptor struct {
	// Name is the provider's stable identifier, as Provider.Name returns it and as order
	// requests, topics and dead letters carry it.
	Name string
	// DefaultLimits are the provider's documented rate limits (cite the documentation next to
	// them), used when a deployment sets none; every tier has a flag in cmd/orderflow/providers.go.
	// Both must be positive: a provider is never silently unlimited.
	DefaultLimits Limits
	// New builds a client from connection settings.
	New func(Settings) (Provider, error)
	// SandboxPrefix is where the in-process sandbox (package sandbox) serves the simulator,
	// under the sandbox URL ("/rye"); a client of it has BaseURL sandbox URL + SandboxPrefix.
	SandboxPrefix string
	// Sandbox builds the provider's simulator for the in-process sandbox.
	Sandbox func(SandboxConfig) (Simulator, error)
	// CheckoutFixes are the dead-letter actions the provider lets a person fix on the refused
	// cart itself (change it, then submit the same cart again) instead of placing a new cart;
	// the replay tool (dlq) fixes them through the client's optional CheckoutFixer methods.
	// Empty: every replay places a new cart.
	CheckoutFixes []CheckoutFix
	// RefusedCartsMayPlace reports that a cart the provider refused may still become an order
	// (Digital River: a checkout consumed after the refusal was answered). The replay tool then
	// asks the provider about every refused cart of the order before replaying.
	RefusedCartsMayPlace bool
}

// Limits are the per-second rates of one provider's tiers (package ratelimit enforces them).
// Zero means unlimited.
type Limits struct {
	// Submit covers the calls that create or submit carts (Rye's strict tier: createCart, submitCart).
	Submit float64
	// Other covers everything else (Rye's default tier: checkoutByCartID).
	Other float64
}

// Settings are the connection settings of a client: Descriptor.New's input.
type Settings struct {
	// BaseURL is the API root (a real endpoint, or the sandbox URL plus SandboxPrefix). Required.
	BaseURL string
	// APIKey is the provider's secret key. Required; never logged.
	APIKey string
	// HTTPClient carries the requests; nil = the adapter's default, with a transport of its own
	// from NewTransport(MaxConns). A given client without a Transport gets one too.
	HTTPClient *http.Client
	// MaxConns is how many calls the client carries at once (the in-flight cap: for a service,
	// service.Config.ProviderConns): its transport keeps that many idle keep-alive connections
	// per host. 0: DefaultMaxConns.
	MaxConns int
}

// SandboxConfig is what the sandbox gives a provider's simulator.
type SandboxConfig struct {
	// Ledger is the sandbox's shared ledger: the simulator records every submitted cart in it.
	Ledger *ledger.Ledger
	// Options is the simulator's own configuration (its Config type, from sandbox.Config); nil
	// means its defaults. A value of another type is an error.
	Options any
}

// Simulator is a provider's simulator, as the sandbox mounts it at SandboxPrefix.
type Simulator struct {
	Handler http.Handler
	// APIKey is the key the simulator accepts: what its client must send.
	APIKey string
	// Close stops the simulator's background work; nil = nothing to stop.
	Close func() error
}

// CheckoutFix is one dead-letter action a provider can fix on the refused cart itself. A fix
// never changes items: a replay that patches items places a new cart.
type CheckoutFix struct {
	Action Action
	// Phase, when set, limits the fix to failures of that phase ("submission").
	Phase string
	// Requires, when set, is the request field the replay must patch for the fix
	// ("payment_ref": a new payment source on the same checkout).
	Requires string
}

// Validate reports a descriptor that is missing something the rest of orderflow relies on.
func (d Descriptor) Validate() error {
	var errs []error
	if d.Name == "" || strings.ContainsAny(d.Name, " :/") {
		errs = append(errs, fmt.Errorf("name %q: want a non-empty identifier without spaces, ':' or '/'", d.Name))
	}
	if d.DefaultLimits.Submit <= 0 || d.DefaultLimits.Other <= 0 {
		errs = append(errs, fmt.Errorf("default limits %+v: both tiers must be positive (the provider's documented limits)", d.DefaultLimits))
	}
	if d.New == nil {
		errs = append(errs, errors.New("no New"))
	}
	if d.Sandbox == nil || !strings.HasPrefix(d.SandboxPrefix, "/") || strings.HasSuffix(d.SandboxPrefix, "/") {
		errs = append(errs, fmt.Errorf("sandbox at %q: want a Sandbox func and a prefix like /name", d.SandboxPrefix))
	}
	for _, f := range d.CheckoutFixes {
		if f.Action == ActionNone {
			errs = append(errs, errors.New("a checkout fix without an action"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("provider descriptor %q: %w", d.Name, err)
	}
	return nil
}

// Fixes reports whether a replay can fix a dead letter with action and phase on its refused
// cart, given the request fields the replay patches.
func (d Descriptor) Fixes(action, phase string, patched func(field string) bool) bool {
	return slices.ContainsFunc(d.CheckoutFixes, func(f CheckoutFix) bool {
		return string(f.Action) == action && (f.Phase == "" || f.Phase == phase) && (f.Requires == "" || patched(f.Requires))
	})
}

// Find returns the descriptor named name in ds.
func Find(ds []Descriptor, name string) (Descriptor, bool) {
	i := slices.IndexFunc(ds, func(d Descriptor) bool { return d.Name == name })
	if i < 0 {
		return Descriptor{}, false
	}
	return ds[i], true
}

// CheckoutPatch is a change to a refused cart for the fix-and-resubmit path: the buyer's
// addresses and e-mail. Nil or empty fields are left as they are.
type CheckoutPatch struct {
	ShipTo *Buyer
	BillTo *Buyer
	Email  string
}
