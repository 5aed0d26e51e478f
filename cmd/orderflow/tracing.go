package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/orderflow/orderflow/internal/tracing"
	"github.com/orderflow/orderflow/service"
)

// tracingFlags are run's OpenTelemetry flags (embedded in runCmd).
type tracingFlags struct {
	OTLPEndpoint string `arg:"--otlp-endpoint,env:ORDERFLOW_OTLP_ENDPOINT" help:"send OpenTelemetry spans to this OTLP/HTTP collector base URL (http://host:4318; spans go to /v1/traces); default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, off when none is set"`
}

// tracingShutdownTimeout bounds the flush of the spans still batched at exit.
const tracingShutdownTimeout = 5 * time.Second

// startTracing returns the process's tracing (nil when off) and the func that flushes and
// stops it, to call after the service is closed.
func (f tracingFlags) startTracing(ctx context.Context, roles []string, log *slog.Logger) (*tracing.Tracing, func(), error) {
	if len(roles) == 0 {
		roles = service.AllRoles
	}
	tr, err := tracing.New(ctx, tracing.Config{Endpoint: f.OTLPEndpoint, Roles: roles})
	if err != nil {
		return nil, nil, configError{fmt.Errorf("--otlp-endpoint: %w", err)} // a URL or OTEL_* setting that can never work
	}
	if tr == nil {
		return nil, func() {}, nil
	}
	return tr, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingShutdownTimeout)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn("flushing spans at exit", "err", err)
		}
	}, nil
}
