package rye

import (
	"fmt"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// DefaultLimits are Rye's documented rate limits (docs.rye.com/api-reference/ratelimits; the
// seeds' API-CONTRACTS.md "Rate limits: 100 req/s default tier; a strict tier of 1 req/s for
// createCart and submitCart"): Submit is the strict tier (createCart, submitCart) at 1 request/s,
// Other the default tier (checkoutByCartID, the tracker's polls) at 100 requests/s. Operators
// override them with --rye-strict-rps and --rye-default-rps.
var DefaultLimits = provider.Limits{Submit: 1, Other: 100}

// SandboxPrefix is where the in-process sandbox serves the Rye simulator (package ryefake).
const SandboxPrefix = "/rye"

// Descriptor describes Rye to the rest of orderflow (see provider.Descriptor). Its placement
// vocabulary is mapped in placement.go; it supports no checkout fixes: a refused Rye cart is
// replaced, never changed.
var Descriptor = provider.Descriptor{
	Name:          Name,
	DefaultLimits: DefaultLimits,
	New: func(s provider.Settings) (provider.Provider, error) {
		return New(Config{BaseURL: s.BaseURL, APIKey: s.APIKey, HTTPClient: s.HTTPClient, MaxConns: s.MaxConns})
	},
	SandboxPrefix: SandboxPrefix,
	Sandbox:       sandbox,
}

// sandbox builds the Rye simulator; Options is a ryefake.Config.
func sandbox(c provider.SandboxConfig) (provider.Simulator, error) {
	var cfg ryefake.Config
	switch o := c.Options.(type) {
	case nil:
	case ryefake.Config:
		cfg = o
	default:
		return provider.Simulator{}, fmt.Errorf("rye sandbox options: %T, want ryefake.Config", c.Options)
	}
	srv, err := ryefake.New(cfg, c.Ledger)
	if err != nil {
		return provider.Simulator{}, err
	}
	return provider.Simulator{Handler: srv, APIKey: srv.Config().APIKey, Close: srv.Close}, nil
}
