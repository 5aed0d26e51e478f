// Package providertest states the provider.Provider contract once, as a conformance suite that
// every adapter runs against its sandbox (in the style of benthos' public/service/integration):
// adding a provider adds a Harness, not a new style of test.
//
// The contract, row by row (Run):
//   - placed: CreateCart, then no order is past not-started before Submit; Submit succeeds;
//     placement ends placed; the sandbox ledger holds exactly one charge for the cart; a second
//     Submit of the same cart is ClassAlreadySubmitted and charges nothing more.
//   - refused-*: a refused Submit is ClassRetryable, ClassNotRetryable (with the Action the
//     harness names) or ClassUnknownRetryability (ActionInvestigate), and charges nothing.
//   - timeout-after-submit: a 5xx/timeout answer to a Submit that took effect is
//     ClassOutcomeUnknown; Status later shows the order placed; one charge.
//   - lost-answer: the connection drops after Submit's request was written: ClassOutcomeUnknown,
//     never a retryable class; Status later shows it placed; resubmitting is ClassAlreadySubmitted.
//   - rate-limited: over the provider's limit a call is ClassRateLimited with a positive wait.
//   - placement-failed: Submit succeeds, placement ends PhaseFailed.
//   - secrets: no error of any row mentions the API key or the payment reference.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

// Scenario is a behaviour the contract speaks about; a Harness says how to trigger it.
type Scenario string

// The scenarios of Run.
const (
	Placed              Scenario = "placed"
	RefusedRetryable    Scenario = "refused-retryable"
	RefusedNotRetryable Scenario = "refused-not-retryable"
	RefusedUnknown      Scenario = "refused-retryability-unknown"
	TimeoutAfterSubmit  Scenario = "timeout-after-submit"
	PlacementFailed     Scenario = "placement-failed"
)

// Order is a request that makes a scenario happen.
type Order struct {
	Cart   provider.CartRequest
	Submit provider.SubmitRequest // CartID is filled in by the suite
	// WantAction is the Action a RefusedNotRetryable submit must carry.
	WantAction provider.Action
}

// Env is what the suite asks of a harness's provider.
type Env struct {
	// Wrap must wrap the client's HTTP transport: the suite drops answers through it.
	Wrap func(http.RoundTripper) http.RoundTripper
	// RateLimited asks for a sandbox whose cart-creating calls are limited to about 1/s.
	RateLimited bool
}

// Harness connects the suite to one adapter and its sandbox.
type Harness struct {
	// New returns a provider talking to a fresh sandbox, and the sandbox's ledger.
	New func(t *testing.T, env Env) (provider.Provider, *ledger.Ledger)
	// Order returns the request for scenario s (n makes ids unique), or false when the provider
	// has no such answer (the row is then skipped, saying so).
	Order func(s Scenario, n int) (Order, bool)
	// APIKey is the key the harness configures; it must never appear in an error.
	APIKey string
}

// Run runs the contract against h.
func Run(t *testing.T, h Harness) {
	var n atomic.Int64
	next := func() int { return int(n.Add(1)) }
	drop := &dropper{}
	p, led := h.New(t, Env{Wrap: drop.wrap})
	secrets := func(t *testing.T, o Order, err error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, s := range []string{h.APIKey, o.Submit.PaymentRef, o.Cart.PaymentRef} {
			if len(s) >= 4 && strings.Contains(err.Error(), s) {
				t.Errorf("error leaks a secret: %v", err)
			}
		}
	}
	order := func(t *testing.T, s Scenario) Order {
		t.Helper()
		o, ok := h.Order(s, next())
		if !ok {
			t.Skipf("%s has no %s answer", p.Name(), s)
		}
		return o
	}
	create := func(t *testing.T, o Order) provider.Cart {
		t.Helper()
		cart, err := p.CreateCart(context.Background(), o.Cart)
		secrets(t, o, err)
		if err != nil {
			t.Fatalf("CreateCart: %v", err)
		}
		if cart.ID == "" {
			t.Fatalf("CreateCart returned no id: %+v", cart)
		}
		return cart
	}
	submit := func(t *testing.T, o Order, cartID string) (provider.Submission, error) {
		t.Helper()
		req := o.Submit
		req.CartID = cartID
		sub, err := p.Submit(context.Background(), req)
		secrets(t, o, err)
		return sub, err
	}
	charges := func(cartID string) int {
		k := 0
		for _, e := range led.Entries() {
			if e.CartID == cartID && e.Charged {
				k++
			}
		}
		return k
	}

	t.Run("placed", func(t *testing.T) {
		o := order(t, Placed)
		cart := create(t, o)
		pl, err := p.Status(context.Background(), cart.ID)
		if err != nil {
			t.Fatalf("Status before Submit: %v", err)
		}
		for _, ord := range pl.Orders {
			if ph := ord.Phase(); ph != provider.PhaseNotStarted {
				t.Fatalf("before Submit an order is %v: %+v", ph, ord)
			}
		}
		if _, err := submit(t, o, cart.ID); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		waitPhase(t, p, cart.ID, provider.PhasePlaced)
		if c := charges(cart.ID); c != 1 {
			t.Fatalf("ledger has %d charges for %s, want 1: %+v", c, cart.ID, led.Entries())
		}
		_, err = submit(t, o, cart.ID)
		if provider.ClassOf(err) != provider.ClassAlreadySubmitted {
			t.Fatalf("second Submit = %v, want %v", err, provider.ClassAlreadySubmitted)
		}
		if c := charges(cart.ID); c != 1 {
			t.Fatalf("a resubmit charged again: %d charges", c)
		}
	})

	refused := []struct {
		s     Scenario
		class provider.Class
	}{
		{RefusedRetryable, provider.ClassRetryable},
		{RefusedNotRetryable, provider.ClassNotRetryable},
		{RefusedUnknown, provider.ClassUnknownRetryability},
	}
	for _, r := range refused {
		t.Run(string(r.s), func(t *testing.T) {
			o := order(t, r.s)
			cart := create(t, o)
			_, err := submit(t, o, cart.ID)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Class != r.class {
				t.Fatalf("Submit = %v, want class %v", err, r.class)
			}
			switch {
			case r.class == provider.ClassNotRetryable && pe.Action != o.WantAction:
				t.Fatalf("action = %q, want %q", pe.Action, o.WantAction)
			case r.class == provider.ClassUnknownRetryability && pe.Action != provider.ActionInvestigate:
				t.Fatalf("action = %q, want %q", pe.Action, provider.ActionInvestigate)
			}
			if c := charges(cart.ID); c != 0 {
				t.Fatalf("a refused submit charged: %+v", led.Entries())
			}
		})
	}

	t.Run(string(TimeoutAfterSubmit), func(t *testing.T) {
		o := order(t, TimeoutAfterSubmit)
		cart := create(t, o)
		_, err := submit(t, o, cart.ID)
		if provider.ClassOf(err) != provider.ClassOutcomeUnknown {
			t.Fatalf("Submit = %v, want %v", err, provider.ClassOutcomeUnknown)
		}
		waitPhase(t, p, cart.ID, provider.PhasePlaced)
		if c := charges(cart.ID); c != 1 {
			t.Fatalf("ledger has %d charges, want 1", c)
		}
	})

	t.Run("lost-answer", func(t *testing.T) {
		o := order(t, Placed)
		cart := create(t, o)
		drop.arm()
		_, err := submit(t, o, cart.ID)
		if provider.ClassOf(err) != provider.ClassOutcomeUnknown {
			t.Fatalf("Submit with its answer lost = %v, want %v", err, provider.ClassOutcomeUnknown)
		}
		waitPhase(t, p, cart.ID, provider.PhasePlaced)
		_, err = submit(t, o, cart.ID)
		if provider.ClassOf(err) != provider.ClassAlreadySubmitted {
			t.Fatalf("resubmit after a lost answer = %v, want %v", err, provider.ClassAlreadySubmitted)
		}
		if c := charges(cart.ID); c != 1 {
			t.Fatalf("ledger has %d charges, want 1", c)
		}
	})

	t.Run(string(PlacementFailed), func(t *testing.T) {
		o := order(t, PlacementFailed)
		cart := create(t, o)
		if _, err := submit(t, o, cart.ID); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		waitPhase(t, p, cart.ID, provider.PhaseFailed)
	})

	t.Run("rate-limited", func(t *testing.T) {
		lp, _ := h.New(t, Env{Wrap: func(rt http.RoundTripper) http.RoundTripper { return rt }, RateLimited: true})
		o := order(t, Placed)
		for i := 0; i < 50; i++ {
			_, err := lp.CreateCart(context.Background(), o.Cart)
			secrets(t, o, err)
			if err == nil {
				continue
			}
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Class != provider.ClassRateLimited || pe.RetryAfter <= 0 {
				t.Fatalf("over the limit: %v (%+v), want %v with a wait", err, pe, provider.ClassRateLimited)
			}
			return
		}
		t.Fatal("50 CreateCart calls in a burst were never rate limited")
	})
}

// waitPhase polls Status until every order of cartID is in phase want.
func waitPhase(t *testing.T, p provider.Provider, cartID string, want provider.Phase) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last provider.Placement
	for time.Now().Before(deadline) {
		pl, err := p.Status(context.Background(), cartID)
		if err == nil && len(pl.Orders) > 0 {
			all := true
			for _, o := range pl.Orders {
				all = all && o.Phase() == want
			}
			if all {
				return
			}
			last = pl
		}
		time.Sleep(5 * time.Millisecond) // poll interval against the sandbox's fast clock
	}
	t.Fatalf("cart %s never reached %v: %+v", cartID, want, last)
}

// dropper loses the answer of the next POST once armed (Submit's charging call: Rye submitCart,
// Digital River POST /orders; reads before it go through): the request reaches the server and
// takes effect, the client sees a broken connection.
type dropper struct{ armed atomic.Bool }

func (d *dropper) arm() { d.armed.Store(true) }

func (d *dropper) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil && r.Method == http.MethodPost && d.armed.CompareAndSwap(true, false) {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return nil, fmt.Errorf("connection reset by peer (answer dropped by providertest)")
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
