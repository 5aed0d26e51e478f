package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/orderflow/orderflow/service"
)

// health serves /healthz and /readyz on the metrics server. The server starts before the
// service (the service registers its metrics on it), so until set is called /readyz answers 503
// naming the check "service".
type health struct {
	log *slog.Logger
	svc atomic.Pointer[service.Service]

	mu      sync.Mutex
	failing []string // the failing checks of the last /readyz, to log changes only
}

// set makes /readyz run svc's checks.
func (h *health) set(svc *service.Service) { h.svc.Store(svc) }

// readyBody is /readyz's answer: every check "ok" or its error, and the failing ones by name.
type readyBody struct {
	Status  string            `json:"status"` // "ready" or "not ready"
	Failing []string          `json:"failing,omitempty"`
	Checks  map[string]string `json:"checks"`
}

// healthz answers 200 while the process serves: liveness says nothing about dependencies, so a
// Redis outage never gets every instance restarted.
func (h *health) healthz(w http.ResponseWriter, _ *http.Request) {
	writeHTTPJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every check passes, else 503 naming the failing checks.
func (h *health) readyz(w http.ResponseWriter, r *http.Request) {
	checks := []service.Check{{Name: "service", Err: errStarting}}
	if svc := h.svc.Load(); svc != nil {
		checks = svc.Ready(r.Context())
	}
	body := readyBody{Status: "ready", Checks: make(map[string]string, len(checks))}
	for _, c := range checks {
		body.Checks[c.Name] = "ok"
		if c.Err != nil {
			body.Checks[c.Name] = c.Err.Error()
			body.Failing = append(body.Failing, c.Name)
		}
	}
	code := http.StatusOK
	if len(body.Failing) > 0 {
		body.Status, code = "not ready", http.StatusServiceUnavailable
	}
	h.logChange(r.Context(), body)
	writeHTTPJSON(w, code, body)
}

// logChange logs when the set of failing checks changes, not on every probe. Check errors name
// no secret (see service.Check).
func (h *health) logChange(ctx context.Context, body readyBody) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if slices.Equal(h.failing, body.Failing) || h.log == nil {
		h.failing = body.Failing
		return
	}
	h.failing = body.Failing
	if len(body.Failing) == 0 {
		h.log.InfoContext(ctx, "ready")
		return
	}
	attrs := []any{"failing", body.Failing}
	for _, name := range body.Failing {
		attrs = append(attrs, name, body.Checks[name])
	}
	h.log.WarnContext(ctx, "not ready", attrs...)
}

var errStarting = errors.New("starting: connecting to Kafka, the registry and Redis")

func writeHTTPJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
