package drfake

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

// ProviderName is the ledger's Provider field for every entry this sandbox records.
const ProviderName = "digitalriver"

// DefaultAPIKey is the key the in-process sandbox configures when none is given.
const DefaultAPIKey = "sk_test_orderflow_sandbox"

// Request body limits, in line with what a real API would refuse.
const (
	maxBodyBytes = 1 << 20
	maxItems     = 100
	maxQuantity  = 10_000
	maxPrice     = 1_000_000_000_000 // cents: keeps sum(price*quantity) far from overflow
)

// sandbox is the state behind the handler. Checkouts and orders live in memory; one mutex
// serialises every state change, which is what makes "a checkout is consumed at most once" hold
// under concurrent POST /orders.
type sandbox struct {
	cfg    Config
	ledger *ledger.Ledger
	lim    *rate.Limiter // nil: unlimited

	rmu sync.Mutex
	rnd *mrand.Rand

	mu        sync.Mutex
	checkouts map[string]*checkout // live, not yet consumed
	consumed  map[string]*order    // checkout id -> the order that consumed it
	orders    map[string]*order
	orderSeq  []*order // creation order, for listing
}

// NewHandler returns the Digital River REST sandbox. Routes are relative (/checkouts, /orders, ...),
// so mount it under a prefix with http.StripPrefix:
//
//	mux.Handle("/dr/", http.StripPrefix("/dr", h))
//
// Every consumed checkout is recorded in l. Middleware runs in this order: body limit, latency,
// authentication, rate limit, injected 503 fault, then the route.
func NewHandler(cfg Config, l *ledger.Ledger) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if l == nil {
		return nil, errors.New("creating digitalriver sandbox: nil ledger")
	}
	cfg = cfg.withDefaults()
	s := &sandbox{
		cfg:       cfg,
		ledger:    l,
		rnd:       mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		checkouts: map[string]*checkout{},
		consumed:  map[string]*order{},
		orders:    map[string]*order{},
	}
	if cfg.RPS > 0 {
		s.lim = rate.NewLimiter(rate.Limit(cfg.RPS), cfg.Burst)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /checkouts", s.createCheckout)
	mux.HandleFunc("GET /checkouts/{id}", s.getCheckout)
	mux.HandleFunc("POST /checkouts/{id}", s.updateCheckout)
	mux.HandleFunc("POST /checkouts/{id}/sources/{sourceId}", s.attachSource)
	mux.HandleFunc("POST /orders", s.createOrder)
	mux.HandleFunc("GET /orders/{id}", s.getOrder)
	mux.HandleFunc("GET /orders", s.listOrders)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, typeNotFound, codeNotFound, "",
			"No route for %s %s.", r.Method, r.URL.Path))
	})

	var h http.Handler = mux
	h = s.injectFaults(h)
	h = s.rateLimit(h)
	h = s.authenticate(h)
	h = s.delay(h)
	h = limitBody(h)
	return h, nil
}

// limitBody bounds request bodies. Digital River documents no response request-id header (it
// asks clients to send upstream-id instead, "API structure"), so the sandbox sends none.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func (s *sandbox) delay(next http.Handler) http.Handler {
	if s.cfg.LatencyMax == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := s.cfg.LatencyMin
		if span := s.cfg.LatencyMax - s.cfg.LatencyMin; span > 0 {
			s.rmu.Lock()
			d += time.Duration(s.rnd.Int64N(int64(span) + 1))
			s.rmu.Unlock()
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the client is gone; nothing to answer
		}
		next.ServeHTTP(w, r)
	})
}

func (s *sandbox) authenticate(next http.Handler) http.Handler {
	want := []byte(s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), want) != 1 {
			// Never echo the presented key.
			writeError(w, newError(http.StatusUnauthorized, typeUnauthorized, "unauthorized", "",
				"The request requires a valid confidential key: Authorization: Bearer <key>."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *sandbox) rateLimit(next http.Handler) http.Handler {
	if s.lim == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		res := s.lim.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			secs := max(1, int(math.Ceil(d.Seconds())))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, newError(http.StatusTooManyRequests, typeTooMany, "too-many-requests", "",
				"Rate limit of %g requests per second exceeded; retry after %d seconds.", s.cfg.RPS, secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *sandbox) injectFaults(next http.Handler) http.Handler {
	if s.cfg.FaultRate == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.chance(s.cfg.FaultRate) {
			writeError(w, newError(http.StatusServiceUnavailable, typeInternalError, "service-unavailable", "",
				"The service is temporarily unavailable."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// chance reports true with probability p, from the seeded source.
func (s *sandbox) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.rnd.Float64() < p
}

// newID returns prefix plus 16 random base32 characters, so ids stay unique across sandbox
// restarts (a client's idempotency store may outlive the sandbox).
func newID(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:16])
}
