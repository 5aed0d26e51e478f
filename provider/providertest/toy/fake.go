package toy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

// FakeConfig configures the toy simulator. The zero value works.
type FakeConfig struct {
	// APIKey is the key it accepts. Default DefaultAPIKey.
	APIKey string
	// PlacementStep is how long after submit an order is decided. Default 20ms.
	PlacementStep time.Duration
	// RPS limits POST /carts per second (burst 1); 0 = unlimited.
	RPS float64
}

// DefaultAPIKey is the simulator's key when FakeConfig.APIKey is empty.
const DefaultAPIKey = "toy-sandbox-key"

// Triggers, as a prefix of an item's product id:
//
//	retry:     submit refused, retryable true, nothing charged
//	declined:  submit refused, retryable false, code card_declined
//	mystery:   submit refused without a retryable flag
//	timeout:   submit takes effect, then answers 504 (the outcome is unknown to the client)
//	fails:     submit succeeds, the order fails (reasonCode card_declined)
type fake struct {
	cfg    FakeConfig
	ledger *ledger.Ledger
	lim    *rate.Limiter

	mu    sync.Mutex
	n     int
	carts map[string]*fakeCart
}

type fakeCart struct {
	in          cartIn
	submittedAt time.Time
}

// Fake builds the toy simulator (the descriptor's Sandbox); Options is a FakeConfig or nil.
func Fake(c provider.SandboxConfig) (provider.Simulator, error) {
	var cfg FakeConfig
	switch o := c.Options.(type) {
	case nil:
	case FakeConfig:
		cfg = o
	default:
		return provider.Simulator{}, fmt.Errorf("toy sandbox options: %T, want toy.FakeConfig", c.Options)
	}
	if cfg.APIKey == "" {
		cfg.APIKey = DefaultAPIKey
	}
	if cfg.PlacementStep <= 0 {
		cfg.PlacementStep = 20 * time.Millisecond
	}
	f := &fake{cfg: cfg, ledger: c.Ledger, carts: map[string]*fakeCart{}}
	if f.ledger == nil {
		f.ledger = ledger.New()
	}
	if cfg.RPS > 0 {
		f.lim = rate.NewLimiter(rate.Limit(cfg.RPS), 1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /carts", f.create)
	mux.HandleFunc("POST /carts/{id}/submit", f.submit)
	mux.HandleFunc("GET /carts/{id}", f.get)
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+cfg.APIKey {
			answer(w, http.StatusUnauthorized, refusal{Code: "unauthenticated", Retryable: provider.Bool(false)})
			return
		}
		mux.ServeHTTP(w, r)
	})
	return provider.Simulator{Handler: auth, APIKey: cfg.APIKey}, nil
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fake) create(w http.ResponseWriter, r *http.Request) {
	if f.lim != nil && !f.lim.Allow() {
		w.Header().Set("Retry-After", "1")
		answer(w, http.StatusTooManyRequests, refusal{Code: "rate_limited", Retryable: provider.Bool(true)})
		return
	}
	var in cartIn
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || len(in.Items) == 0 {
		answer(w, http.StatusBadRequest, refusal{Code: "invalid_request", Message: "want a cart with items", Retryable: provider.Bool(false)})
		return
	}
	f.mu.Lock()
	f.n++
	id := fmt.Sprintf("toy-cart-%d", f.n)
	f.carts[id] = &fakeCart{in: in}
	f.mu.Unlock()
	answer(w, http.StatusCreated, cartOut{ID: id, TotalCents: total(in), Currency: in.Currency})
}

func total(in cartIn) int64 {
	var t int64
	for _, it := range in.Items {
		t += it.PriceCents * int64(it.Quantity)
	}
	return t
}

// trigger is the first item's trigger prefix, or "".
func (c *fakeCart) trigger() string {
	if p, _, ok := strings.Cut(c.in.Items[0].ProductID, ":"); ok {
		return p
	}
	return ""
}

func (f *fake) submit(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	c, ok := f.carts[id]
	switch {
	case !ok:
		answer(w, http.StatusNotFound, refusal{Code: "cart_not_found", Retryable: provider.Bool(false)})
		return
	case !c.submittedAt.IsZero():
		answer(w, http.StatusConflict, refusal{Code: "already_submitted", Retryable: provider.Bool(false)})
		return
	}
	switch c.trigger() {
	case "retry":
		answer(w, http.StatusServiceUnavailable, refusal{Code: "busy", Message: "try again", Retryable: provider.Bool(true)})
		return
	case "declined":
		answer(w, http.StatusPaymentRequired, refusal{Code: "card_declined", Message: "the card was declined", Retryable: provider.Bool(false)})
		return
	case "mystery":
		answer(w, http.StatusUnprocessableEntity, refusal{Code: "mystery", Message: "something went wrong"})
		return
	}
	c.submittedAt = time.Now()
	f.ledger.Submit(ledger.Entry{Provider: Name, CartID: id, OrderRef: c.in.OrderRef, AmountCents: total(c.in),
		Currency: c.in.Currency, Charged: true, Orders: []string{id + "-1"}, At: c.submittedAt.UTC()})
	if c.trigger() == "timeout" {
		answer(w, http.StatusGatewayTimeout, refusal{Code: "timeout"})
		return
	}
	answer(w, http.StatusOK, f.view(id, c))
}

func (f *fake) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	c, ok := f.carts[id]
	if !ok {
		answer(w, http.StatusNotFound, refusal{Code: "cart_not_found", Retryable: provider.Bool(false)})
		return
	}
	answer(w, http.StatusOK, f.view(id, c))
}

// view is the cart as GET answers it: one order of the first item's merchant, decided one
// PlacementStep after the submit.
func (f *fake) view(id string, c *fakeCart) cartOut {
	out := cartOut{ID: id, TotalCents: total(c.in), Currency: c.in.Currency, Submitted: !c.submittedAt.IsZero()}
	if !out.Submitted {
		return out
	}
	o := orderOut{Merchant: c.in.Items[0].Merchant, ID: id + "-1", State: "pending"}
	if time.Since(c.submittedAt) >= f.cfg.PlacementStep {
		o.State = "placed"
		if c.trigger() == "fails" {
			o.State, o.ReasonCode = "failed", "card_declined"
		}
	}
	out.Orders = []orderOut{o}
	return out
}
