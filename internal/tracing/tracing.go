// Package tracing exports OpenTelemetry spans of orderflow's Kafka records to an OTLP/HTTP
// collector: franz-go's kotel hooks on every client (a publish span per produced record, a
// receive span per fetched one) and a process span per handled record. It is off, with no
// exporter and no hooks, unless an endpoint is configured. ARCHITECTURE.md ("Logs and traces")
// says how it agrees with consumer.Propagate on the traceparent header.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orderflow/orderflow/consumer"
)

// ServiceName is the service.name resource attribute of every span.
const ServiceName = "orderflow"

// Environment variables that turn tracing on (the OpenTelemetry standard ones).
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvSDKDisabled    = "OTEL_SDK_DISABLED"
)

// Config configures tracing.
type Config struct {
	// Endpoint is the collector's OTLP/HTTP base URL ("http://collector:4318"), read as
	// OTEL_EXPORTER_OTLP_ENDPOINT is: spans go to its path + "/v1/traces". Empty: the
	// exporter reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; with
	// neither set tracing is off. OTEL_SDK_DISABLED=true turns it off whatever is set.
	Endpoint string
	// Roles and Version are resource attributes (orderflow.roles, service.version; an empty
	// Version is the main module's version from the binary's build info).
	Roles   []string
	Version string
	// Getenv reads the environment; nil = os.Getenv.
	Getenv func(string) string
}

// Enabled reports whether cfg turns tracing on.
func (c Config) Enabled() bool {
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if off, _ := strconv.ParseBool(getenv(EnvSDKDisabled)); off {
		return false
	}
	return c.Endpoint != "" || getenv(EnvEndpoint) != "" || getenv(EnvTracesEndpoint) != ""
}

// Tracing is the process's tracer provider, batching spans to the OTLP exporter. A nil
// *Tracing is tracing off: its methods add nothing and cost nothing.
type Tracing struct {
	provider   *sdktrace.TracerProvider
	propagator propagation.TextMapPropagator
}

// New returns the process's Tracing, or nil (and no exporter) when cfg does not enable it.
// Call Shutdown before exiting: it flushes the spans still batched.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("tracing: endpoint %q: want an http:// or https:// URL", cfg.Endpoint)
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: creating the OTLP exporter: %w", err)
	}
	version := cfg.Version
	if bi, ok := debug.ReadBuildInfo(); ok && version == "" {
		version = bi.Main.Version
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override ours.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(), resource.WithAttributes(
		semconv.ServiceName(ServiceName), semconv.ServiceVersion(version),
		attribute.String("orderflow.roles", strings.Join(cfg.Roles, ","))), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("tracing: building the resource: %w", err)
	}
	return &Tracing{
		provider:   sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)),
		propagator: propagation.TraceContext{},
	}, nil
}

// Shutdown flushes the batched spans to the collector and stops the exporter, within ctx's
// deadline. It is idempotent; a nil Tracing does nothing.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// TracerProvider is the provider spans are made with (nil Tracing: nil).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}

// KafkaOpts are the hooks for one franz-go client, named client (messaging.client_id) and, for
// a group consumer, group: first headerParent, then kotel's tracer. Nil Tracing: none.
func (t *Tracing) KafkaOpts(client, group string) []kgo.Opt {
	if t == nil {
		return nil
	}
	return []kgo.Opt{kgo.WithHooks(append([]kgo.Hook{headerParent{t.propagator}}, kotel.NewKotel(kotel.WithTracer(t.tracer(client, group))).Hooks()...)...)}
}

func (t *Tracing) tracer(client, group string) *kotel.Tracer {
	opts := []kotel.TracerOpt{kotel.TracerProvider(t.provider), kotel.TracerPropagator(t.propagator), kotel.ClientID(client)}
	if group != "" {
		opts = append(opts, kotel.ConsumerGroup(group))
	}
	return kotel.NewTracer(opts...)
}

// Middleware starts a process span for every record the handler handles, the child of the
// record's receive span (kotel's fetch hook keeps it in the record's Context), and hands the
// handler a context carrying it: the publish span of every record produced under that
// context is its child, in the request's trace. A handler error marks the span failed. Nil
// Tracing: the handler as it is.
func (t *Tracing) Middleware(role, group string) consumer.Middleware {
	if t == nil {
		return func(next consumer.Handler) consumer.Handler { return next }
	}
	tr := t.tracer(role, group)
	return func(next consumer.Handler) consumer.Handler {
		return consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) error {
			_, span := tr.WithProcessSpan(r)
			defer span.End()
			span.SetAttributes(attribute.String("orderflow.role", role))
			err := next.Handle(trace.ContextWithSpan(ctx, span), r)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		})
	}
}

// DeadLetter wraps the engine's dead-letter path, which runs after the handler returned (its
// process span ended): the dead letter's publish span is a child of the record's receive span,
// so a record that came without a trace context still has its dead letter in its trace. Nil
// Tracing: fn as it is.
func (t *Tracing) DeadLetter(fn consumer.DeadLetterFunc) consumer.DeadLetterFunc {
	if t == nil || fn == nil {
		return fn
	}
	return func(ctx context.Context, r *kgo.Record, reason error) error {
		if r.Context != nil {
			if sc := trace.SpanContextFromContext(r.Context); sc.IsValid() {
				ctx = trace.ContextWithSpanContext(ctx, sc)
			}
		}
		return fn(ctx, r, reason)
	}
}

// headerParent runs before kotel's produce hook. A record produced under a context without a
// span (an upstream's producer.RequestOrder under tracecontext.With, or any producer outside
// a handler) but carrying a traceparent header gets that header as its parent. Without it,
// kotel would start a new trace and overwrite the header, cutting the record off from the
// request's trace.
type headerParent struct{ propagator propagation.TextMapPropagator }

func (h headerParent) OnProduceRecordBuffered(r *kgo.Record) {
	if trace.SpanContextFromContext(r.Context).IsValid() {
		return
	}
	if ctx := h.propagator.Extract(r.Context, kotel.NewRecordCarrier(r)); trace.SpanContextFromContext(ctx).IsValid() {
		r.Context = ctx
	}
}
