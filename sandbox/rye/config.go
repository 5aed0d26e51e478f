package rye

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Rye's published limits and lifetimes, used as documentation and by callers that want the real numbers.
const (
	// RealStrictRPS is Rye's strict tier (createCart, submitCart): 1 request per second per API key.
	RealStrictRPS = 1
	// RealDefaultRPS is Rye's default tier (every other operation): 100 requests per second per API key.
	RealDefaultRPS = 100
	// DefaultCartTTL is how long a Rye cart can be submitted after creation.
	DefaultCartTTL = 10 * 24 * time.Hour
	// DefaultPlacementStep is the sandbox's clock tick between placement events.
	DefaultPlacementStep = time.Second
	// DefaultAPIKey is the key the sandbox accepts when Config.APIKey is empty.
	DefaultAPIKey = "rye-sandbox-key"
)

// Config configures the Rye sandbox. The zero value is usable: every field documents its default.
type Config struct {
	// APIKey is the only key accepted in "Authorization: Basic <key>". Default DefaultAPIKey.
	APIKey string
	// PlacementStep is the accelerated clock of asynchronous placement: SubmissionStarted at
	// +1 step after submitCart, payment and SubmissionSucceeded at +2, Placed or Failed at +3,
	// TrackingObtained at +4. Default DefaultPlacementStep (1s); tests use a few milliseconds.
	PlacementStep time.Duration
	// CartTTL is how long after creation a cart can be submitted; older carts answer the root
	// error CART_EXPIRED_ERROR. Default DefaultCartTTL (10 days).
	CartTTL time.Duration
	// StrictRPS and DefaultRPS are the per-API-key rate limits of the strict tier (createCart,
	// submitCart) and the default tier (everything else). 0 means unlimited (the default);
	// Rye's real limits are RealStrictRPS and RealDefaultRPS.
	StrictRPS, DefaultRPS float64
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
	if c.StrictRPS < 0 || c.DefaultRPS < 0 {
		errs = append(errs, fmt.Errorf("rate limits must be >= 0 (0 = unlimited), got strict %v default %v", c.StrictRPS, c.DefaultRPS))
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
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
