package ryefake

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
)

// Rye's published limits and lifetimes.
const (
	// RealStrictRPS is Rye's strict tier (createCart, submitCart): 1 request per second per API
	// key (DOCS docs.rye.com/api-reference/ratelimits).
	RealStrictRPS = 1
	// RealDefaultRPS is Rye's default tier (every other operation): 100 requests per second per
	// API key (DOCS ratelimits).
	RealDefaultRPS = 100
	// Unlimited, as Config.StrictRPS or Config.DefaultRPS, turns a tier's limit off (any
	// negative value does).
	Unlimited = -1
	// DefaultCartTTL is how long a Rye cart can be submitted after creation: "carts expire
	// after 10 days" (DOCS docs.rye.com/api-reference/root-errors, CART_EXPIRED_ERROR).
	DefaultCartTTL = 10 * 24 * time.Hour
	// DefaultPlacementStep is the sandbox's clock tick between placement events.
	DefaultPlacementStep = time.Second
	// DefaultAPIKey is the key the sandbox accepts when Config.APIKey is empty.
	DefaultAPIKey = "rye-sandbox-key"
	// DefaultShopifyStore is the store of a Shopify variant id without "@<store domain>"
	// when Config.DefaultShopifyStore is empty.
	DefaultShopifyStore = "sandbox-store.myshopify.com"
)

// Config configures the Rye sandbox. The zero value is usable and is as real as the sandbox
// gets (Rye's real rate limits included): every field documents its default.
type Config struct {
	// APIKey is the only key accepted in "Authorization: Basic <key>". Default DefaultAPIKey.
	APIKey string
	// PlacementStep is the accelerated clock of asynchronous placement (see doc.go for the
	// events at +1, +2, ... steps after submitCart). Default DefaultPlacementStep (1s); tests
	// use a few milliseconds.
	PlacementStep time.Duration
	// CartTTL is how long after creation a cart can be submitted; older carts answer the root
	// error CART_EXPIRED_ERROR. Default DefaultCartTTL (10 days, as real).
	CartTTL time.Duration
	// StrictRPS and DefaultRPS are the per-API-key rate limits, in requests per second, of the
	// strict tier (createCart, submitCart) and the default tier (everything else). 0 means
	// Rye's real limit (RealStrictRPS = 1, RealDefaultRPS = 100); a negative value (Unlimited)
	// means no limit. Tests that create and submit carts faster than 1/s set StrictRPS: Unlimited.
	StrictRPS, DefaultRPS float64
	// ResetEpoch selects the form of the Ratelimit-Reset header. DOCS (ratelimits) say it is
	// "the time at which the current rate limit window resets in seconds", which reads as a
	// number of seconds from now (the default, false), while the docs' sample code treats it as
	// a Unix epoch second (true). Both are plausible; the docs do not settle it.
	ResetEpoch bool
	// RetryAfter adds a Retry-After header (whole seconds) to 429 answers. Rye does not
	// document Retry-After, so the default (false) does not send it.
	RetryAfter bool
	// DefaultShopifyStore is the store domain of a Shopify variant id that does not name one
	// with the sandbox's "<variant>@<store domain>" trigger. Default DefaultShopifyStore.
	DefaultShopifyStore string
	// FaultRate is the fraction (0..1) of submitCart calls answered HTTP 503 before anything
	// happens. Default 0.
	FaultRate float64
	// TimeoutRate is the fraction (0..1) of submitCart calls answered HTTP 504 after the
	// submission took effect. Default 0.
	TimeoutRate float64
	// Latency adds a uniformly distributed delay in [Min, Max] to every request. Default none.
	Latency Latency
	// Seed seeds the random source of FaultRate, TimeoutRate and Latency. Default 1.
	Seed uint64
	// Logger receives one debug line per request. Default: discard.
	Logger *slog.Logger
}

// Latency is a uniform delay range.
type Latency struct {
	Min, Max time.Duration
}

// Validate reports a config New would reject. Zero fields are valid: they take their default.
func (c Config) Validate() error {
	var errs []error
	if c.PlacementStep < 0 {
		errs = append(errs, fmt.Errorf("PlacementStep %v is negative", c.PlacementStep))
	}
	if c.CartTTL < 0 {
		errs = append(errs, fmt.Errorf("CartTTL %v is negative", c.CartTTL))
	}
	if math.IsNaN(c.StrictRPS) || math.IsNaN(c.DefaultRPS) {
		errs = append(errs, fmt.Errorf("rate limits must be numbers (0 = real, negative = unlimited), got strict %v default %v", c.StrictRPS, c.DefaultRPS))
	}
	if strings.ContainsAny(c.DefaultShopifyStore, "@ ") {
		errs = append(errs, fmt.Errorf("DefaultShopifyStore %q must be a store domain", c.DefaultShopifyStore))
	}
	if c.FaultRate < 0 || c.FaultRate > 1 {
		errs = append(errs, fmt.Errorf("FaultRate %v is outside [0, 1]", c.FaultRate))
	}
	if c.TimeoutRate < 0 || c.TimeoutRate > 1 {
		errs = append(errs, fmt.Errorf("TimeoutRate %v is outside [0, 1]", c.TimeoutRate))
	}
	if c.Latency.Min < 0 || c.Latency.Max < c.Latency.Min {
		errs = append(errs, fmt.Errorf("Latency [%v, %v] is not a valid range", c.Latency.Min, c.Latency.Max))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.APIKey == "" {
		c.APIKey = DefaultAPIKey
	}
	if c.PlacementStep == 0 {
		c.PlacementStep = DefaultPlacementStep
	}
	if c.CartTTL == 0 {
		c.CartTTL = DefaultCartTTL
	}
	c.StrictRPS = effectiveRPS(c.StrictRPS, RealStrictRPS)
	c.DefaultRPS = effectiveRPS(c.DefaultRPS, RealDefaultRPS)
	if c.DefaultShopifyStore == "" {
		c.DefaultShopifyStore = DefaultShopifyStore
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// effectiveRPS maps a configured rate to the one enforced: 0 is real, negative or +Inf is
// Unlimited.
func effectiveRPS(v, real float64) float64 {
	switch {
	case v == 0:
		return real
	case v < 0 || math.IsInf(v, 1):
		return Unlimited
	}
	return v
}

// RateLimits returns the enforced per-second limits of the strict and default tiers after
// defaults: Unlimited (-1) for no limit. For banners and logs.
func (c Config) RateLimits() (strict, def float64) {
	d := c.withDefaults()
	return d.StrictRPS, d.DefaultRPS
}
