package drfake

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// DefaultPlacementStep is the accelerated order clock's tick when Config.PlacementStep is zero.
const DefaultPlacementStep = time.Second

// Config configures the sandbox. Only APIKey is required; every other zero value is a working default.
type Config struct {
	// APIKey is the confidential key clients must send as "Authorization: Bearer <APIKey>". Required.
	APIKey string

	// RPS is the sustained request rate allowed across all clients, in requests per second.
	// 0 (the default) means unlimited. Digital River allows 250 live and 25 in test mode.
	// Requests over the limit get 429 too_many_requests with a Retry-After header in whole seconds.
	RPS float64
	// Burst is how many requests may arrive at once before RPS applies. Default: ceil(RPS), at least 1.
	Burst int

	// PlacementStep is one tick of the accelerated order clock: an order moves to its next state one
	// step after entering the current one (see the scenario table in the package doc).
	// Default DefaultPlacementStep (1s); tests use 5-20ms.
	PlacementStep time.Duration

	// FaultRate is the probability in [0,1] that a request is answered 503 before anything happens.
	// Default 0.
	FaultRate float64
	// TimeoutRate is the probability in [0,1] that a POST /checkouts or POST /orders that did create its
	// resource answers 504 request_timeout anyway. Default 0.
	TimeoutRate float64
	// LatencyMin and LatencyMax bound a uniformly random delay added before every request is handled.
	// Default 0 (no delay). LatencyMax must not be below LatencyMin.
	LatencyMin, LatencyMax time.Duration
	// Seed seeds the random source behind FaultRate, TimeoutRate and the latency, so a run is
	// reproducible for a given request sequence. The zero seed is a valid seed.
	Seed uint64

	// ReusedCheckoutStatus is the HTTP status a consumed checkout (one already turned into an
	// order) answers to POST /orders, POST /checkouts/{id} and attaching a source: 404 (the
	// default, and what "Processing orders" documents), 409 or 400, the other answers a real
	// Digital River could plausibly give (see ReusedCheckoutStatuses). A "reused-<status>:" sku
	// prefix overrides it per checkout.
	ReusedCheckoutStatus int
}

// ReusedCheckoutStatuses are the accepted values of Config.ReusedCheckoutStatus:
//
//	404 not_found   {"type":"not_found","errors":[{"code":"not_found","parameter":"orderId","message":"Order <id> not found"}]}
//	                (documented, "Processing orders", section "Reusing the checkout identifier")
//	409 conflict    code failed-request, the code of a declined charge ("Processing orders", "409 Conflict")
//	400 bad_request code order_submit_failed "Payment session status is invalid." ("Payment sessions": the
//	                consumed checkout's session is no longer requires_confirmation)
var ReusedCheckoutStatuses = []int{404, 409, 400}

// Validate reports every invalid field. It accepts the zero value of every field but APIKey.
func (c Config) Validate() error {
	var errs []error
	if c.APIKey == "" {
		errs = append(errs, errors.New("APIKey is required"))
	}
	if c.RPS < 0 || math.IsNaN(c.RPS) || math.IsInf(c.RPS, 0) {
		errs = append(errs, fmt.Errorf("RPS %v must be a finite number >= 0", c.RPS))
	}
	if c.Burst < 0 {
		errs = append(errs, fmt.Errorf("Burst %d must be >= 0", c.Burst))
	}
	if c.PlacementStep < 0 {
		errs = append(errs, fmt.Errorf("PlacementStep %v must be >= 0", c.PlacementStep))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"FaultRate", c.FaultRate}, {"TimeoutRate", c.TimeoutRate}} {
		if !(p.v >= 0 && p.v <= 1) { // also rejects NaN
			errs = append(errs, fmt.Errorf("%s %v must be in [0,1]", p.name, p.v))
		}
	}
	if c.LatencyMin < 0 {
		errs = append(errs, fmt.Errorf("LatencyMin %v must be >= 0", c.LatencyMin))
	}
	if c.LatencyMax < c.LatencyMin {
		errs = append(errs, fmt.Errorf("LatencyMax %v must be >= LatencyMin %v", c.LatencyMax, c.LatencyMin))
	}
	if c.ReusedCheckoutStatus != 0 && !slices.Contains(ReusedCheckoutStatuses, c.ReusedCheckoutStatus) {
		errs = append(errs, fmt.Errorf("ReusedCheckoutStatus %d must be one of %v", c.ReusedCheckoutStatus, ReusedCheckoutStatuses))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("validating digitalriver sandbox config: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.PlacementStep == 0 {
		c.PlacementStep = DefaultPlacementStep
	}
	if c.ReusedCheckoutStatus == 0 {
		c.ReusedCheckoutStatus = 404
	}
	if c.RPS > 0 && c.Burst == 0 {
		c.Burst = max(1, int(math.Ceil(c.RPS)))
	}
	return c
}
