package rye

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// Schema is the GraphQL schema the sandbox serves; provider/rye generates its client from the same file.
//
//go:embed schema.graphql
var Schema string

// QueryPath is the GraphQL endpoint, relative to the Rye base URL.
const QueryPath = "/v1/query"

// Request headers the sandbox reads.
const (
	// HeaderShopperIP is the end user's IP, required on submitCart.
	HeaderShopperIP = "Rye-Shopper-IP"
	// HeaderOrderRef is a sandbox-only correlation header: createCart stores it on the cart and
	// the ledger reports it. A real Rye ignores it.
	HeaderOrderRef = "Orderflow-Order-Ref"
	// HeaderRequestID is set on every response.
	HeaderRequestID = "X-Request-Id"
)

// maxBodyBytes bounds a request body.
const maxBodyBytes = 1 << 20

// Server is the Rye sandbox: an http.Handler serving POST /v1/query. It is safe for concurrent use.
type Server struct {
	cfg    Config
	ledger *ledger.Ledger
	schema *graphql.Schema
	limits *limiters
	log    *slog.Logger

	rndMu sync.Mutex
	rnd   *rand.Rand

	mu             sync.Mutex
	carts          map[string]*cart
	productSubmits map[string]int  // unavailable-2: submitCart calls per product id
	restocked      map[string]bool // oos-once: product ids that already went out of stock once
	timers         map[*time.Timer]struct{}
	closed         bool
}

// New returns a sandbox that records submitted carts in l (a new ledger if l is nil).
func New(cfg Config, l *ledger.Ledger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating rye sandbox config: %w", err)
	}
	cfg = cfg.withDefaults()
	if l == nil {
		l = ledger.New()
	}
	s := &Server{
		cfg:            cfg,
		ledger:         l,
		limits:         newLimiters(cfg.StrictRPS, cfg.DefaultRPS),
		log:            cfg.Logger,
		rnd:            rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		carts:          map[string]*cart{},
		productSubmits: map[string]int{},
		restocked:      map[string]bool{},
		timers:         map[*time.Timer]struct{}{},
	}
	schema, err := graphql.ParseSchema(Schema, &resolver{s: s},
		graphql.UseFieldResolvers(), graphql.UseStringDescriptions(), graphql.MaxQueryLength(64<<10))
	if err != nil {
		return nil, fmt.Errorf("parsing rye schema: %w", err)
	}
	s.schema = schema
	return s, nil
}

// Ledger returns the ledger the sandbox records submitted carts in.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Close stops pending placement timers (ledger refunds). It is idempotent; the handler keeps
// answering, but no refund fires after Close.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	clear(s.timers)
	return nil
}

// afterFunc runs f after d unless the server is closed first. Called with s.mu held.
func (s *Server) afterFunc(d time.Duration, f func()) {
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		_, pending := s.timers[t]
		delete(s.timers, t)
		s.mu.Unlock()
		if pending {
			f()
		}
	})
	s.timers[t] = struct{}{}
}

func (s *Server) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return s.rnd.Float64() < p
}

func (s *Server) latency() time.Duration {
	l := s.cfg.Latency
	if l.Max <= 0 {
		return 0
	}
	s.rndMu.Lock()
	defer s.rndMu.Unlock()
	return l.Min + time.Duration(s.rnd.Int64N(int64(l.Max-l.Min)+1))
}

// reqState carries per-request inputs from the HTTP layer to the resolvers, and the outcome
// the resolvers decide (top-level retryable extension, a GraphQL-less HTTP status) back.
type reqState struct {
	shopperIP string
	orderRef  string

	mu           sync.Mutex
	retryableSet bool
	retryable    *bool
	status       int // non-zero: answer this HTTP status with a plain-text body instead of GraphQL
}

type reqStateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	if rs, ok := ctx.Value(reqStateKey{}).(*reqState); ok {
		return rs
	}
	return &reqState{}
}

func (rs *reqState) setRetryable(r *bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.retryableSet, rs.retryable = true, r
}

func (rs *reqState) setStatus(code int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.status = code
}

type queryRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// ServeHTTP serves POST /v1/query: authentication, rate limiting, latency, then GraphQL.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID("req")
	w.Header().Set(HeaderRequestID, reqID)
	if r.URL.Path != QueryPath {
		writeGraphQLError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint; POST "+QueryPath)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeGraphQLError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST")
		return
	}
	key, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="rye"`)
		writeGraphQLError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "missing or invalid API key")
		return
	}
	var req queryRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&req); err != nil {
		writeGraphQLError(w, http.StatusBadRequest, "BAD_REQUEST", "request body is not a GraphQL JSON request")
		return
	}
	tier := operationTier(req.Query, req.OperationName)
	if !s.limits.allow(key, tier, w.Header(), time.Now()) {
		writeGraphQLError(w, http.StatusTooManyRequests, "RATE_LIMITED", "rate limit exceeded for the "+tier+" tier")
		return
	}
	if d := s.latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	rs := &reqState{shopperIP: r.Header.Get(HeaderShopperIP), orderRef: r.Header.Get(HeaderOrderRef)}
	ctx := context.WithValue(r.Context(), reqStateKey{}, rs)
	resp := s.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)

	rs.mu.Lock()
	status, retryableSet, retryable := rs.status, rs.retryableSet, rs.retryable
	rs.mu.Unlock()
	s.log.Debug("rye sandbox request", "request_id", reqID, "tier", tier, "status", status, "errors", len(resp.Errors))
	switch status {
	case http.StatusServiceUnavailable:
		http.Error(w, "upstream connect error or disconnect/reset before headers", status)
		return
	case http.StatusGatewayTimeout:
		http.Error(w, "upstream request timeout", status)
		return
	}
	if retryableSet {
		if retryable != nil {
			resp.Extensions = map[string]any{"retryable": *retryable}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *Server) authenticate(r *http.Request) (string, bool) {
	const prefix = "Basic "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return "", false
	}
	key := h[len(prefix):]
	if subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
		return "", false
	}
	return key, true
}

// operationTier parses the document (with gqlparser, not by hand) and returns the strict
// tier when the selected operation's root fields include createCart or submitCart.
// Unparseable documents count against the default tier; graphql-go reports their errors.
func operationTier(query, operationName string) string {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return tierDefault
	}
	for _, op := range doc.Operations {
		if operationName != "" && op.Name != operationName {
			continue
		}
		for _, sel := range op.SelectionSet {
			if f, ok := sel.(*ast.Field); ok && (f.Name == "createCart" || f.Name == "submitCart") {
				return tierStrict
			}
		}
	}
	return tierDefault
}

// writeGraphQLError answers a request that never reached GraphQL execution.
func writeGraphQLError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

// gqlError is a root GraphQL error with extensions {code, retryable}.
type gqlError struct {
	code      string
	msg       string
	retryable *bool
}

func (e *gqlError) Error() string { return e.msg }

// Extensions implements graphql-go's ResolverError.
func (e *gqlError) Extensions() map[string]any {
	ext := map[string]any{"code": e.code}
	if e.retryable != nil {
		ext["retryable"] = *e.retryable
	}
	return ext
}

var errAnsweredWithStatus = errors.New("answered with a plain HTTP status")

func boolPtr(b bool) *bool { return &b }
