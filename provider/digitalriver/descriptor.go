package digitalriver

import (
	"fmt"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/drfake"
)

// Documented rate limits of Digital River's API keys, per second, one tier for every call
// (Digital River's "Rate limiting", …/developer-resources/rate-limiting; the seeds'
// API-CONTRACTS.md "250 req/s live, 25 req/s test; over the limit 429 with Retry-After").
// Operators override them with --dr-rps.
var (
	TestLimits = provider.Limits{Submit: 25, Other: 25}   // test keys
	LiveLimits = provider.Limits{Submit: 250, Other: 250} // production keys
)

// SandboxPrefix is where the in-process sandbox serves the Digital River simulator (package drfake).
const SandboxPrefix = "/dr"

// Descriptor describes Digital River to the rest of orderflow (see provider.Descriptor).
// Default limits are the test keys' (a deployment on live keys sets LiveLimits). A checkout
// refused with a non-409 4xx is fixed in place (fix-checkout), and so is one refused before
// POST /orders consumed it for want of a payment (new-payment-method with a new source); a
// refused checkout may still be consumed, so the replay tool looks every one up.
var Descriptor = provider.Descriptor{
	Name:          Name,
	DefaultLimits: TestLimits,
	New: func(s provider.Settings) (provider.Provider, error) {
		return New(Config{BaseURL: s.BaseURL, APIKey: s.APIKey, HTTPClient: s.HTTPClient, MaxConns: s.MaxConns})
	},
	SandboxPrefix: SandboxPrefix,
	Sandbox:       sandbox,
	CheckoutFixes: []provider.CheckoutFix{
		{Action: provider.ActionFixCheckout},
		{Action: provider.ActionNewPaymentMethod, Phase: "submission", Requires: "payment_ref"},
	},
	RefusedCartsMayPlace: true,
}

// sandbox builds the Digital River simulator; Options is a drfake.Config (an empty APIKey
// means drfake.DefaultAPIKey).
func sandbox(c provider.SandboxConfig) (provider.Simulator, error) {
	var cfg drfake.Config
	switch o := c.Options.(type) {
	case nil:
	case drfake.Config:
		cfg = o
	default:
		return provider.Simulator{}, fmt.Errorf("digital river sandbox options: %T, want drfake.Config", c.Options)
	}
	if cfg.APIKey == "" {
		cfg.APIKey = drfake.DefaultAPIKey
	}
	h, err := drfake.NewHandler(cfg, c.Ledger)
	if err != nil {
		return provider.Simulator{}, err
	}
	return provider.Simulator{Handler: h, APIKey: cfg.APIKey}, nil
}
