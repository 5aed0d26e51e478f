package rye_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

var (
	yes = provider.Bool(true)
	no  = provider.Bool(false)
)

// want is the expected outcome of one Submit: zero Class means success.
type want struct {
	Class      provider.Class
	Code       string
	Retryable  *bool
	Action     provider.Action
	HTTPStatus int
}

func (w want) check(t *testing.T, i int, err error) {
	t.Helper()
	if w.Class == 0 {
		if err != nil {
			t.Fatalf("submit #%d: unexpected error %v", i+1, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("submit #%d: succeeded, want %s %s", i+1, w.Class, w.Code)
	}
	pe := asProviderError(t, err)
	got := want{pe.Class, pe.Code, pe.Retryable, pe.Action, pe.HTTPStatus}
	if got.Class != w.Class || got.Code != w.Code || !sameFlag(got.Retryable, w.Retryable) || got.Action != w.Action || got.HTTPStatus != w.HTTPStatus {
		t.Fatalf("submit #%d:\n got %s\nwant %s\n(error: %v)", i+1, got, w, err)
	}
}

func (w want) String() string {
	return fmt.Sprintf("{class %s, code %q, retryable %s, action %q, http %d}", w.Class, w.Code, flag(w.Retryable), w.Action, w.HTTPStatus)
}

func sameFlag(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func flag(b *bool) string {
	if b == nil {
		return "absent"
	}
	return fmt.Sprint(*b)
}

var (
	ok       = want{}
	okHTTP   = http.StatusOK
	notRetry = func(code string, a provider.Action) want {
		return want{provider.ClassNotRetryable, code, no, a, okHTTP}
	}
	retry       = func(code string) want { return want{provider.ClassRetryable, code, yes, provider.ActionNone, okHTTP} }
	outcomeUnkn = func(status int) want {
		return want{provider.ClassOutcomeUnknown, fmt.Sprintf("HTTP_%d", status), nil, provider.ActionNone, status}
	}
	alreadySubmitted = want{provider.ClassAlreadySubmitted, "ALREADY_SUBMITTED", no, provider.ActionNone, okHTTP}
)

// ledgerWant is what the ledger must say about the row's cart once placement settled.
type ledgerWant struct {
	entries  int
	charged  bool
	refunded bool
}

// TestContract runs one row per scenario trigger of the sandbox (sandbox/ryefake/doc.go) through
// the client and asserts the classification, the placement and the ledger.
func TestContract(t *testing.T) {
	tests := []struct {
		name    string
		items   []provider.Item
		buyer   func(*provider.Buyer)
		token   string
		noIP    bool
		submits []want // one Submit per element, in order
		// placement, checked when the last submit succeeded or left the outcome to Status
		phase        provider.Phase
		failureCode  string
		failureRetry *bool
		stable       bool // the phase must hold for several placement steps (stuck, never started)
		ledger       ledgerWant
	}{
		{name: "ok", items: []provider.Item{amazon("B01")}, token: "tok_visa",
			submits: []want{ok}, phase: provider.PhasePlaced, ledger: ledgerWant{1, true, false}},
		{name: "no token (invoice billing)", items: []provider.Item{amazon("B02")},
			submits: []want{ok}, phase: provider.PhasePlaced, ledger: ledgerWant{1, false, false}},
		{name: "tok_declined", items: []provider.Item{amazon("B03")}, token: "tok_declined",
			submits: []want{notRetry("PAYMENT_FAILED", provider.ActionNewPaymentMethod)}},
		{name: "tok_insufficient_funds", items: []provider.Item{amazon("B04")}, token: "tok_insufficient_funds",
			submits: []want{ok}, phase: provider.PhaseFailed, failureCode: "INSUFFICIENT_FUNDS", failureRetry: no,
			ledger: ledgerWant{1, true, true}},
		{name: "undeliverable", items: []provider.Item{amazon("B05")}, token: "tok_visa",
			buyer:   func(b *provider.Buyer) { b.PostalCode = "00000" },
			submits: []want{notRetry("UNDELIVERABLE", provider.ActionNewAddress)}},
		{name: "invalid email", items: []provider.Item{amazon("B06")}, token: "tok_visa",
			buyer:   func(b *provider.Buyer) { b.Email = "ada.example.com" },
			submits: []want{notRetry("BUYER_IDENTITY_INVALID_EMAIL", provider.ActionFixInput)}},
		{name: "missing shopper ip", items: []provider.Item{amazon("B07")}, token: "tok_visa", noIP: true,
			submits: []want{notRetry("SUBMIT_CART_FAILED", provider.ActionFixInput)}},
		{name: "oos-once", items: []provider.Item{amazon("oos-once:B08")}, token: "tok_visa",
			submits: []want{ok}, phase: provider.PhaseFailed, failureCode: "OUT_OF_STOCK", failureRetry: yes,
			ledger: ledgerWant{1, true, true}},
		{name: "unavailable", items: []provider.Item{amazon("unavailable:B09")}, token: "tok_visa",
			submits: []want{retry("PRODUCTS_UNAVAILABLE"), retry("PRODUCTS_UNAVAILABLE"), retry("PRODUCTS_UNAVAILABLE")}},
		{name: "unavailable-2", items: []provider.Item{shop("shop-a.myshopify.com", "unavailable-2:V10")}, token: "tok_visa",
			submits: []want{retry("PRODUCTS_UNAVAILABLE"), retry("PRODUCTS_UNAVAILABLE"), ok},
			phase:   provider.PhasePlaced, ledger: ledgerWant{1, true, false}},
		{name: "upstream-2", items: []provider.Item{amazon("upstream-2:B11")}, token: "tok_visa",
			submits: []want{retry("UPSTREAM_SERVICE_ERROR"), retry("UPSTREAM_SERVICE_ERROR"), ok},
			phase:   provider.PhasePlaced, ledger: ledgerWant{1, true, false}},
		{name: "internal-1", items: []provider.Item{amazon("internal-1:B12")}, token: "tok_visa",
			submits: []want{retry("INTERNAL_SERVER_ERROR"), ok}, phase: provider.PhasePlaced, ledger: ledgerWant{1, true, false}},
		{name: "unsupported", items: []provider.Item{amazon("unsupported:B13")}, token: "tok_visa",
			submits: []want{notRetry("FEATURE_UNSUPPORTED", provider.ActionFixInput)}},
		{name: "bad-shipping", items: []provider.Item{amazon("bad-shipping:B14")}, token: "tok_visa",
			submits: []want{notRetry("SUBMIT_STORE_FAILED", provider.ActionFixInput)}},
		{name: "unknown-error", items: []provider.Item{amazon("unknown-error:B15")}, token: "tok_visa",
			submits: []want{{provider.ClassUnknownRetryability, "SUBMIT_STORE_FAILED", nil, provider.ActionInvestigate, okHTTP}}},
		{name: "timeout-placed", items: []provider.Item{amazon("timeout-placed:B16")}, token: "tok_visa",
			submits: []want{outcomeUnkn(http.StatusGatewayTimeout), alreadySubmitted},
			phase:   provider.PhasePlaced, ledger: ledgerWant{1, true, false}},
		{name: "timeout-lost", items: []provider.Item{amazon("timeout-lost:B17")}, token: "tok_visa",
			submits: []want{outcomeUnkn(http.StatusServiceUnavailable)},
			phase:   provider.PhaseNotStarted, stable: true},
		{name: "stuck", items: []provider.Item{amazon("stuck:B18")}, token: "tok_visa",
			submits: []want{ok}, phase: provider.PhaseStarted, stable: true, ledger: ledgerWant{1, true, false}},
		{name: "placement-failed", items: []provider.Item{amazon("placement-failed:B19")}, token: "tok_visa",
			submits: []want{ok}, phase: provider.PhaseFailed, failureCode: "MERCHANT_CONFIGURATION", failureRetry: no,
			ledger: ledgerWant{1, true, true}},
		{name: "placement-unknown", items: []provider.Item{amazon("placement-unknown:B20")}, token: "tok_visa",
			submits: []want{ok}, phase: provider.PhaseFailed, failureCode: "INTERNAL_ERROR", failureRetry: nil,
			ledger: ledgerWant{1, true, true}},
		{name: "expired", items: []provider.Item{amazon("expired:B21")}, token: "tok_visa",
			// A root error carries no retryable flag (docs.rye.com root-errors); the code decides.
			submits: []want{{Class: provider.ClassNotRetryable, Code: "CART_EXPIRED_ERROR", Action: provider.ActionNewCart, HTTPStatus: 200}}},
		{name: "empty cart", token: "tok_visa",
			submits: []want{notRetry("CART_IS_EMPTY", provider.ActionFixInput)}},
		{name: "resubmit", items: []provider.Item{amazon("B22")}, token: "tok_visa",
			submits: []want{ok, alreadySubmitted}, phase: provider.PhasePlaced, ledger: ledgerWant{1, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, ryefake.Config{})
			req := cartReq("order-"+tt.name+"/1", tt.items...)
			if tt.buyer != nil {
				tt.buyer(&req.Buyer)
			}
			cart := e.createCart(t, req)
			ip := shopperIP
			if tt.noIP {
				ip = ""
			}
			var lastErr error
			for i, w := range tt.submits {
				_, lastErr = e.client.Submit(context.Background(), provider.SubmitRequest{CartID: cart.ID, ShopperIP: ip, PaymentRef: tt.token})
				w.check(t, i, lastErr)
			}
			last := tt.submits[len(tt.submits)-1]
			placementExpected := last.Class == 0 || last.Class == provider.ClassOutcomeUnknown || last.Class == provider.ClassAlreadySubmitted
			if placementExpected {
				p := e.settle(t, cart.ID, tt.phase, tt.stable)
				o := p.Orders[0]
				if tt.failureCode != "" {
					f, found := o.Failure()
					if !found || f.ReasonCode != tt.failureCode || !sameFlag(f.Retryable, tt.failureRetry) || f.Reason == "" {
						t.Fatalf("failure event = %+v (found %v), want %s retryable %s", f, found, tt.failureCode, flag(tt.failureRetry))
					}
				}
			}
			e.checkLedger(t, cart.ID, tt.ledger)
		})
	}
}

// settle polls Status until the cart's single order reaches phase; with stable it then keeps
// polling until the placement clock has run past its last step, asserting the phase holds.
func (e *env) settle(t *testing.T, cartID string, phase provider.Phase, stable bool) provider.Placement {
	t.Helper()
	p := e.waitPlacement(t, cartID, func(p provider.Placement) bool {
		return len(p.Orders) == 1 && p.Orders[0].Phase() == phase
	})
	if !stable {
		return p
	}
	until := time.Now().Add(6 * testStep)
	for time.Now().Before(until) {
		p = e.waitPlacement(t, cartID, func(provider.Placement) bool { return true })
		if got := p.Orders[0].Phase(); got != phase {
			t.Fatalf("phase moved from %v to %v: %+v", phase, got, p.Orders[0].Events)
		}
		time.Sleep(testStep) // observing that nothing changes takes time by definition
	}
	return p
}

// checkLedger asserts the cart's ledger entries, polling for the refund, which placement
// records asynchronously.
func (e *env) checkLedger(t *testing.T, cartID string, w ledgerWant) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []ledger.Entry
		for _, en := range e.sb.Ledger().Entries() {
			if en.CartID == cartID {
				got = append(got, en)
			}
		}
		if len(got) != w.entries {
			t.Fatalf("ledger has %d entries for %s, want %d: %+v", len(got), cartID, w.entries, got)
		}
		if len(got) == 0 {
			return
		}
		en := got[0]
		if en.Charged != w.charged || en.Provider != "rye" || en.Currency != "USD" || en.AmountCents <= 0 || len(en.Orders) == 0 {
			t.Fatalf("ledger entry = %+v, want charged %v", en, w.charged)
		}
		if en.Refunded == w.refunded {
			return
		}
		if en.Refunded || time.Now().After(deadline) {
			t.Fatalf("ledger entry refunded = %v, want %v", en.Refunded, w.refunded)
		}
		time.Sleep(testStep / 2)
	}
}
