package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

type sandboxCmd struct {
	Addr          string        `arg:"--addr,env:ORDERFLOW_SANDBOX_ADDR" default:"127.0.0.1:8090" help:"listen address"`
	PlacementStep time.Duration `arg:"--placement-step" default:"1s" help:"accelerated placement clock tick"`
	RyeKey        string        `arg:"--rye-key,env:ORDERFLOW_RYE_KEY" help:"Rye API key to accept (default ryefake.DefaultAPIKey)"`
	DRKey         string        `arg:"--dr-key,env:ORDERFLOW_DR_KEY" help:"Digital River key to accept"`
	RyeStrictRPS  float64       `arg:"--rye-strict-rps" default:"1" help:"Rye strict tier (createCart, submitCart) requests/s per key, real 1; negative (--rye-strict-rps=-1): unlimited"`
	RyeDefaultRPS float64       `arg:"--rye-default-rps" default:"100" help:"Rye default tier requests/s per key, real 100; negative (--rye-default-rps=-1): unlimited"`
	RyeResetEpoch bool          `arg:"--rye-reset-epoch" help:"Rye Ratelimit-Reset as the Unix epoch second of the reset instead of seconds until it (docs are ambiguous)"`
	RyeRetryAfter bool          `arg:"--rye-retry-after" help:"add Retry-After to Rye 429 answers (not documented for Rye)"`
	DRRPS         float64       `arg:"--dr-rps" help:"Digital River requests/s; 0 unlimited (real: 25 test, 250 live)"`
	DRReused      int           `arg:"--dr-reused-checkout-status" default:"404" help:"Digital River status for reusing a consumed checkout: 404 (documented), 409 or 400"`
	FaultRate     float64       `arg:"--fault-rate" help:"fraction of submits answered 503 before doing anything"`
	TimeoutRate   float64       `arg:"--timeout-rate" help:"fraction of submits answered 504 after submitting"`
	LatencyMin    time.Duration `arg:"--latency-min" help:"uniform random latency added to every request: lower bound"`
	LatencyMax    time.Duration `arg:"--latency-max" help:"uniform random latency added to every request: upper bound"`
	Seed          uint64        `arg:"--seed" default:"1" help:"seed of the fault and latency draws"`
}

func (c *sandboxCmd) run(ctx context.Context, log *slog.Logger) error {
	cfg := sandbox.Config{
		Rye: ryefake.Config{APIKey: c.RyeKey, PlacementStep: c.PlacementStep, StrictRPS: c.RyeStrictRPS, DefaultRPS: c.RyeDefaultRPS,
			ResetEpoch: c.RyeResetEpoch, RetryAfter: c.RyeRetryAfter,
			FaultRate: c.FaultRate, TimeoutRate: c.TimeoutRate, Latency: ryefake.Latency{Min: c.LatencyMin, Max: c.LatencyMax},
			Seed: c.Seed, Logger: log},
		DigitalRiver: drfake.Config{APIKey: c.DRKey, PlacementStep: c.PlacementStep, RPS: c.DRRPS,
			FaultRate: c.FaultRate, TimeoutRate: c.TimeoutRate, LatencyMin: c.LatencyMin, LatencyMax: c.LatencyMax,
			Seed: c.Seed, ReusedCheckoutStatus: c.DRReused},
	}
	sb, err := sandbox.New(cfg)
	if err != nil {
		return configError{err} // New only fails on settings (rates, statuses) that can never work
	}
	url, shutdown, err := sb.Start(c.Addr)
	if err != nil {
		return err
	}
	fmt.Printf("sandbox: Rye at %s%s/v1/query, Digital River at %s%s, ledger at %s%s\n",
		url, sandbox.RyePrefix, url, sandbox.DigitalRiverPrefix, url, sandbox.LedgerPath)
	strict, def := cfg.Rye.RateLimits()
	fmt.Printf("sandbox: Rye rate limits: strict %s, default %s (real: 1/s, 100/s)\n", ryeRate(strict), ryeRate(def))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return shutdown(sctx)
}

// ryeRate formats a Rye sandbox tier's enforced rate for the banner.
func ryeRate(rps float64) string {
	if rps < 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s", rps)
}
