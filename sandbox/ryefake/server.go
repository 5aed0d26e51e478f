package ryefake

import (
	"context"
	"crypto/subtle"
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
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/orderflow/orderflow/provider/rye/ryeschema"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

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
	orders         map[string]*cart // order id -> its cart, for orderByID
	productSubmits map[string]int   // unavailable-2: submitCart calls per product id
	restocked      map[string]bool  // oos-once: product ids that already went out of stock once
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
		limits:         newLimiters(cfg),
		log:            cfg.Logger,
		rnd:            rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		carts:          map[string]*cart{},
		orders:         map[string]*cart{},
		productSubmits: map[string]int{},
		restocked:      map[string]bool{},
		timers:         map[*time.Timer]struct{}{},
	}
	// ryeschema.SDL is the one description of Rye's real API in the repository; graphql-go
	// checks at parse time that every field reachable from Query and Mutation has a resolver.
	schema, err := graphql.ParseSchema(ryeschema.SDL, &resolver{s: s},
		graphql.UseFieldResolvers(), graphql.UseStringDescriptions(), graphql.MaxQueryLength(64<<10))
	if err != nil {
		return nil, fmt.Errorf("parsing rye schema: %w", err)
	}
	s.schema = schema
	return s, nil
}

// Config returns the configuration in effect, defaults applied (StrictRPS and DefaultRPS are
// the enforced rates, Unlimited for none).
func (s *Server) Config() Config { return s.cfg }

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
	base      string // "http://<host>" of the request, for URLs the sandbox hands out

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
		// UNAUTHENTICATED is a DOCS root-error code; the HTTP status is not documented.
		w.Header().Set("WWW-Authenticate", `Basic realm="rye"`)
		writeGraphQLError(w, http.StatusUnauthorized, codeUnauthorized, "missing or invalid API key")
		return
	}
	var req queryRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&req); err != nil {
		// JSON_PARSE_ERROR is a DOCS root-error code; the HTTP status is not documented.
		writeGraphQLError(w, http.StatusBadRequest, codeJSONParse, "request body is not a GraphQL JSON request")
		return
	}
	tier := operationTier(req.Query, req.OperationName)
	if !s.limits.allow(key, tier, w.Header(), time.Now()) {
		// HTTP 429 and the Ratelimit-* headers are DOCS (ratelimits); the body is not
		// documented: the sandbox sends a GraphQL-shaped error without an extensions code.
		writeGraphQLError(w, http.StatusTooManyRequests, "", "rate limit exceeded for the "+tier+" tier")
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

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rs := &reqState{shopperIP: r.Header.Get(HeaderShopperIP), orderRef: r.Header.Get(HeaderOrderRef), base: scheme + "://" + r.Host}
	ctx := context.WithValue(r.Context(), reqStateKey{}, rs)
	resp := s.schema.Exec(ctx, req.Query, req.OperationName, req.Variables)
	for _, e := range resp.Errors {
		// GRAPHQL_PARSE_ERROR is a DOCS root-error code for documents that do not parse.
		if e.Extensions == nil && errors.Is(e.Err, gqlerrors.ErrSyntax) {
			e.Extensions = map[string]any{"code": codeParse}
		}
	}

	rs.mu.Lock()
	status, retryableSet, retryable := rs.status, rs.retryableSet, rs.retryable
	rs.mu.Unlock()
	s.log.Debug("rye sandbox request", "request_id", reqID, "tier", tier, "status", status, "errors", len(resp.Errors))
	// Transport-level faults (FaultRate, TimeoutRate, timeout-lost, timeout-placed): a gateway
	// answers instead of Rye's GraphQL server, with a plain-text body.
	switch status {
	case http.StatusServiceUnavailable:
		http.Error(w, "upstream connect error or disconnect/reset before headers", status)
		return
	case http.StatusGatewayTimeout:
		http.Error(w, "upstream request timeout", status)
		return
	}
	// A failed submitCart's retryable flag is the response's top-level extensions.retryable
	// (DOCS get-started/ordering/handling-errors); absent when unknown.
	if retryableSet && retryable != nil {
		resp.Extensions = map[string]any{"retryable": *retryable}
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
// tier when the selected operation's root fields include createCart or submitCart (DOCS
// ratelimits: the strict tier covers createCart, submitCart, requestProductByUrl, ...).
// Unparseable documents count against the default tier; graphql-go reports their errors.
func operationTier(query, operationName string) string {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return TierDefault
	}
	for _, op := range doc.Operations {
		if operationName != "" && op.Name != operationName {
			continue
		}
		for _, sel := range op.SelectionSet {
			if f, ok := sel.(*ast.Field); ok && (f.Name == "createCart" || f.Name == "submitCart") {
				return TierStrict
			}
		}
	}
	return TierDefault
}

// writeGraphQLError answers a request that never reached GraphQL execution; code "" sends
// no extensions.
func writeGraphQLError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	e := map[string]any{"message": msg}
	if code != "" {
		e["extensions"] = map[string]any{"code": code}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{e}})
}

// gqlError is a root GraphQL error with extensions {"code": code} and nothing else, as DOCS
// (root-errors) show them: no retryable key.
type gqlError struct {
	code string
	msg  string
}

func (e *gqlError) Error() string { return e.msg }

// Extensions implements graphql-go's ResolverError.
func (e *gqlError) Extensions() map[string]any { return map[string]any{"code": e.code} }

var errAnsweredWithStatus = errors.New("answered with a plain HTTP status")

func boolPtr(b bool) *bool { return &b }
