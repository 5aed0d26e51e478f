package digitalriver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

const (
	testKey = "sk_test_5ecretK3y"
	step    = 10 * time.Millisecond
)

// env is one sandbox, mounted under /dr as the lead mounts it, and a client for it.
type env struct {
	ledger *ledger.Ledger
	client *digitalriver.Client
	logs   *syncBuffer
	url    string
}

func newEnv(t *testing.T, cfg drfake.Config) *env {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	if cfg.PlacementStep == 0 {
		cfg.PlacementStep = step
	}
	l := ledger.New()
	h, err := drfake.NewHandler(cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dr/", http.StripPrefix("/dr", h))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{ledger: l, logs: &syncBuffer{}, url: srv.URL + "/dr"}
	e.client = e.newClient(t, testKey)
	return e
}

func (e *env) newClient(t *testing.T, key string) *digitalriver.Client {
	t.Helper()
	c, err := digitalriver.New(digitalriver.Config{
		BaseURL: e.url, APIKey: key,
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cartRequest(ref, source string, skus ...string) provider.CartRequest {
	req := provider.CartRequest{
		OrderRef: ref, Currency: "USD", PaymentRef: source,
		Buyer: provider.Buyer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com",
			Address1: "1 Main St", City: "Minneapolis", ProvinceCode: "MN", PostalCode: "55401", CountryCode: "US"},
	}
	for i, sku := range skus {
		req.Items = append(req.Items, provider.Item{Merchant: "digitalriver", ProductID: sku, Quantity: i + 1, PriceCents: 1999})
	}
	return req
}

// totalOf is what the sandbox must charge for cartRequest's items.
func totalOf(req provider.CartRequest) int64 {
	var t int64
	for _, it := range req.Items {
		t += it.PriceCents * int64(it.Quantity)
	}
	return t
}

func (e *env) createCart(t *testing.T, req provider.CartRequest) provider.Cart {
	t.Helper()
	cart, err := e.client.CreateCart(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateCart: %v", err)
	}
	if cart.ID == "" || cart.TotalCents != totalOf(req) || cart.Currency != "USD" ||
		len(cart.Merchants) != 1 || cart.Merchants[0] != "digitalriver" {
		t.Fatalf("CreateCart = %+v, want an id, total %d USD, merchants [digitalriver]", cart, totalOf(req))
	}
	return cart
}

func (e *env) submit(t *testing.T, cartID string) (provider.Submission, *provider.Error) {
	t.Helper()
	sub, err := e.client.Submit(context.Background(), provider.SubmitRequest{CartID: cartID, PaymentRef: "src_unused"})
	if err == nil {
		if sub.CartID != cartID || len(sub.Orders) != 1 || sub.Orders[0].OrderID == "" || sub.Orders[0].Merchant != "digitalriver" {
			t.Fatalf("Submit = %+v, want one digitalriver order for %s", sub, cartID)
		}
		return sub, nil
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Submit error %T %v is not a *provider.Error", err, err)
	}
	return sub, pe
}

func (e *env) mustSubmit(t *testing.T, cartID string) provider.Submission {
	t.Helper()
	sub, pe := e.submit(t, cartID)
	if pe != nil {
		t.Fatalf("Submit(%s): %v", cartID, pe)
	}
	return sub
}

// waitPhase polls Status until the single order reaches want, or fails after a deadline.
func (e *env) waitPhase(t *testing.T, cartID string, want provider.Phase) provider.OrderPlacement {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(step / 2)
	defer tick.Stop()
	for {
		p, err := e.client.Status(context.Background(), cartID)
		if err != nil {
			t.Fatalf("Status(%s): %v", cartID, err)
		}
		if p.CartID != cartID || len(p.Orders) != 1 || p.Orders[0].Merchant != "digitalriver" {
			t.Fatalf("Status(%s) = %+v, want one digitalriver order", cartID, p)
		}
		o := p.Orders[0]
		if got := o.Phase(); got == want {
			return o
		} else if got == provider.PhasePlaced || got == provider.PhaseFailed || time.Now().After(deadline) {
			t.Fatalf("Status(%s): phase %v (state %q, events %+v), want %v", cartID, got, o.Status, o.Events, want)
		}
		<-tick.C
	}
}

// wantErr checks the classification fields of a provider error.
type wantErr struct {
	class  provider.Class
	action provider.Action
	code   string
	status int
}

func checkErr(t *testing.T, what string, pe *provider.Error, want wantErr) {
	t.Helper()
	if pe == nil {
		t.Fatalf("%s: no error, want %v", what, want.class)
	}
	if pe.Class != want.class || pe.Action != want.action || pe.Code != want.code || pe.HTTPStatus != want.status {
		t.Fatalf("%s: got class %v action %q code %q status %d (%v), want %v %q %q %d",
			what, pe.Class, pe.Action, pe.Code, pe.HTTPStatus, pe, want.class, want.action, want.code, want.status)
	}
	if pe.RequestID == "" {
		t.Fatalf("%s: error %v without a request id", what, pe)
	}
}

func asProviderError(t *testing.T, err error) *provider.Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *provider.Error", err, err)
	}
	return pe
}

// checkLedger asserts exactly one entry, for cartID, charged once for req.
func checkLedger(t *testing.T, l *ledger.Ledger, cartID, orderID string, req provider.CartRequest, refunded bool) {
	t.Helper()
	es := l.Entries()
	if len(es) != 1 {
		t.Fatalf("ledger has %d entries, want 1: %+v", len(es), es)
	}
	e := es[0]
	if e.Provider != "digitalriver" || e.CartID != cartID || e.OrderRef != req.OrderRef || e.AmountCents != totalOf(req) ||
		e.Currency != "USD" || !e.Charged || e.Refunded != refunded || len(e.Orders) != 1 || e.Orders[0] != orderID {
		t.Fatalf("ledger entry %+v, want checkout %s ref %s %d USD charged, refunded=%v, orders [%s]",
			e, cartID, req.OrderRef, totalOf(req), refunded, orderID)
	}
	if d := l.DoubleSubmits(); len(d) != 0 {
		t.Fatalf("double submits: %v", d)
	}
}

// TestContract drives the client against the sandbox, one row per scenario trigger or answer path.
func TestContract(t *testing.T) {
	tests := []struct {
		name    string
		cfg     drfake.Config
		source  string
		skus    []string
		run     func(t *testing.T, e *env, req provider.CartRequest)
		secrets []string // besides testKey and the row's source
	}{
		{
			name: "ok", source: "src_ok_1", skus: []string{"SKU1", "SKU2"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				e.waitPhase(t, cart.ID, provider.PhaseNotStarted)
				sub := e.mustSubmit(t, cart.ID)
				if sub.Orders[0].Status != "pending_payment" {
					t.Fatalf("order state %q, want pending_payment", sub.Orders[0].Status)
				}
				o := e.waitPhase(t, cart.ID, provider.PhasePlaced)
				wantEvents(t, o, provider.EventSubmissionStarted, provider.EventPaymentSucceeded, provider.EventPlaced)
				if o.OrderID != sub.Orders[0].OrderID || o.Status != "accepted" || len(o.Items) != 2 ||
					o.Items[1] != (provider.Item{Merchant: "digitalriver", ProductID: "SKU2", Quantity: 2, PriceCents: 1999}) {
					t.Fatalf("placement %+v does not match order %s of %+v", o, sub.Orders[0].OrderID, req.Items)
				}
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "src_declined is 409 until a new checkout with a new source", source: "src_declined", skus: []string{"SKU1"},
			secrets: []string{"src_good_2"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				want := wantErr{provider.ClassNotRetryable, provider.ActionNewCheckout, "conflict/failed-request", 409}
				_, pe := e.submit(t, cart.ID)
				checkErr(t, "first submit", pe, want)
				if pe.Message != "charge declined: insufficient funds" {
					t.Fatalf("message %q", pe.Message)
				}
				// The seed: updating the checkout does not help, even with a new source.
				if err := e.client.AttachSource(context.Background(), cart.ID, "src_good_2"); err != nil {
					t.Fatal(err)
				}
				_, pe = e.submit(t, cart.ID)
				checkErr(t, "resubmit of the declined checkout", pe, want)
				if n := len(e.ledger.Entries()); n != 0 {
					t.Fatalf("ledger has %d entries after declines, want 0", n)
				}
				req.PaymentRef = "src_good_2"
				cart2 := e.createCart(t, req)
				sub := e.mustSubmit(t, cart2.ID)
				checkLedger(t, e.ledger, cart2.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "src_pending_funds: a delayed payment waits in pending_payment, then is placed", source: "src_pending_funds", skus: []string{"SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				sub := e.mustSubmit(t, cart.ID)
				if sub.Orders[0].Status != "pending_payment" {
					t.Fatalf("order state %q, want pending_payment", sub.Orders[0].Status)
				}
				o := e.waitPhase(t, cart.ID, provider.PhasePlaced)
				wantEvents(t, o, provider.EventSubmissionStarted, provider.EventPaymentSucceeded, provider.EventPlaced)
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "src_pending_funds_never: the unfunded order is cancelled, a failure", source: "src_pending_funds_never", skus: []string{"SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				e.mustSubmit(t, cart.ID)
				o := e.waitPhase(t, cart.ID, provider.PhaseFailed)
				if f, _ := o.Failure(); f.ReasonCode != "cancelled" || f.Retryable == nil || *f.Retryable {
					t.Fatalf("failure %+v, want cancelled, not retryable", f)
				}
			},
		},
		{
			name: "fulfilled and complete orders are placed", source: "src_ok_3", skus: []string{"fulfilled:SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				e.mustSubmit(t, cart.ID)
				deadline := time.Now().Add(5 * time.Second)
				for {
					p, err := e.client.Status(context.Background(), cart.ID)
					if err != nil {
						t.Fatal(err)
					}
					if o := p.Orders[0]; o.Status == "complete" {
						if o.Phase() != provider.PhasePlaced {
							t.Fatalf("complete order in phase %v", o.Phase())
						}
						break
					} else if o.Status != "pending_payment" && o.Phase() != provider.PhasePlaced {
						t.Fatalf("order %s in phase %v", o.Status, o.Phase())
					}
					if time.Now().After(deadline) {
						t.Fatal("the order never completed")
					}
					time.Sleep(step / 2)
				}
			},
		},
		{
			name: "no source requires one", source: "", skus: []string{"SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				_, pe := e.submit(t, cart.ID)
				checkErr(t, "submit", pe, wantErr{provider.ClassNotRetryable, provider.ActionNewPaymentMethod,
					digitalriver.CodePaymentSessionNotReady, 0})
				if !strings.Contains(pe.Message, "requires_source") {
					t.Fatalf("message %q does not name the session state", pe.Message)
				}
			},
		},
		{
			name: "bad-tax is fixed on the same checkout", source: "src_ok_4", skus: []string{"bad-tax:SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				for range 2 { // not fixed by resubmitting alone
					_, pe := e.submit(t, cart.ID)
					checkErr(t, "submit before the fix", pe, wantErr{provider.ClassNotRetryable, provider.ActionFixCheckout,
						"bad_request/order_create_failed", 400})
					if !strings.Contains(pe.Message, "shipTo") {
						t.Fatalf("message %q does not name the parameter", pe.Message)
					}
				}
				fixed := req.Buyer
				fixed.PostalCode = "55402"
				if err := e.client.UpdateCheckout(context.Background(), cart.ID, digitalriver.CheckoutPatch{ShipTo: &fixed}); err != nil {
					t.Fatal(err)
				}
				sub := e.mustSubmit(t, cart.ID)
				e.waitPhase(t, cart.ID, provider.PhasePlaced)
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "a consumed checkout is already submitted", source: "src_ok_5", skus: []string{"SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				sub := e.mustSubmit(t, cart.ID)
				_, pe := e.submit(t, cart.ID)
				checkErr(t, "resubmit", pe, wantErr{provider.ClassAlreadySubmitted, provider.ActionNone,
					"not_found/not_found", 404})
				if !strings.Contains(pe.Message, sub.Orders[0].OrderID) {
					t.Fatalf("message %q does not name the existing order", pe.Message)
				}
				o := e.waitPhase(t, cart.ID, provider.PhasePlaced)
				if o.OrderID != sub.Orders[0].OrderID {
					t.Fatalf("Status found order %s, want %s", o.OrderID, sub.Orders[0].OrderID)
				}
				err := e.client.UpdateCheckout(context.Background(), cart.ID, digitalriver.CheckoutPatch{Email: "x@example.com"})
				checkErr(t, "update of a consumed checkout", asProviderError(t, err),
					wantErr{provider.ClassAlreadySubmitted, provider.ActionNone, "not_found/not_found", 404})
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "timeout-created is outcome unknown, and placed", source: "src_ok_6", skus: []string{"timeout-created:SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				_, pe := e.submit(t, cart.ID)
				checkErr(t, "submit", pe, wantErr{provider.ClassOutcomeUnknown, provider.ActionNone,
					"request_timeout/request-timeout", 504})
				o := e.waitPhase(t, cart.ID, provider.PhasePlaced)
				_, pe = e.submit(t, cart.ID)
				checkErr(t, "resubmit", pe, wantErr{provider.ClassAlreadySubmitted, provider.ActionNone,
					"not_found/not_found", 404})
				checkLedger(t, e.ledger, cart.ID, o.OrderID, req, false)
			},
		},
		{
			name: "server-error-1 is outcome unknown, not started, resubmittable", source: "src_ok_7", skus: []string{"server-error-1:SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				_, pe := e.submit(t, cart.ID)
				checkErr(t, "submit", pe, wantErr{provider.ClassOutcomeUnknown, provider.ActionNone,
					"internal_server_error/internal-error", 500})
				o := e.waitPhase(t, cart.ID, provider.PhaseNotStarted)
				if o.OrderID != "" || len(o.Events) != 0 {
					t.Fatalf("placement %+v after a 500, want no order", o)
				}
				if n := len(e.ledger.Entries()); n != 0 {
					t.Fatalf("ledger has %d entries after a 500, want 0", n)
				}
				sub := e.mustSubmit(t, cart.ID)
				e.waitPhase(t, cart.ID, provider.PhasePlaced)
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "review goes in_review then accepted", source: "src_ok_8", skus: []string{"SKU1", "review:SKU2"},
			cfg: drfake.Config{PlacementStep: 50 * time.Millisecond}, // room to observe in_review
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				sub := e.mustSubmit(t, cart.ID)
				if sub.Orders[0].Status != "in_review" {
					t.Fatalf("order state %q, want in_review", sub.Orders[0].Status)
				}
				o := e.waitPhase(t, cart.ID, provider.PhasePlaced)
				wantEvents(t, o, provider.EventSubmissionStarted, provider.EventPaymentSucceeded, provider.EventPlaced)
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, false)
			},
		},
		{
			name: "fraud-blocked fails and is refunded", source: "src_ok_9", skus: []string{"fraud-blocked:SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				cart := e.createCart(t, req)
				sub := e.mustSubmit(t, cart.ID)
				o := e.waitPhase(t, cart.ID, provider.PhaseFailed)
				wantEvents(t, o, provider.EventSubmissionStarted, provider.EventFailed)
				f, _ := o.Failure()
				if f.ReasonCode != "blocked" || f.Retryable == nil || *f.Retryable {
					t.Fatalf("failure %+v, want reason blocked, retryable false", f)
				}
				checkLedger(t, e.ledger, cart.ID, sub.Orders[0].OrderID, req, true)
			},
		},
		{
			name: "429 carries Retry-After", source: "src_ok_10", skus: []string{"SKU1"},
			cfg: drfake.Config{RPS: 0.5, Burst: 1},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				if _, err := e.client.Status(context.Background(), "chk_any"); err != nil {
					t.Fatalf("first request: %v", err)
				}
				_, err := e.client.CreateCart(context.Background(), req)
				pe := asProviderError(t, err)
				checkErr(t, "second request", pe, wantErr{provider.ClassRateLimited, provider.ActionNone,
					"too_many_requests/too-many-requests", 429})
				if pe.RetryAfter != 2*time.Second {
					t.Fatalf("RetryAfter %v, want 2s", pe.RetryAfter)
				}
			},
		},
		{
			name: "a wrong key is 401", source: "src_ok_11", skus: []string{"SKU1"},
			secrets: []string{"sk_test_wrong"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				_, err := e.newClient(t, "sk_test_wrong").CreateCart(context.Background(), req)
				checkErr(t, "CreateCart", asProviderError(t, err), wantErr{provider.ClassNotRetryable,
					provider.ActionInvestigate, "unauthorized/unauthorized", 401})
			},
		},
		{
			name: "an unknown checkout is investigated, never a new checkout", source: "src_ok_13", skus: []string{"SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				_, pe := e.submit(t, "chk_never_created")
				checkErr(t, "submit", pe, wantErr{provider.ClassNotRetryable, provider.ActionInvestigate, "not_found/not_found", 404})
				e.createCart(t, req) // for the logs check
			},
		},
		{
			name: "invalid items are fixed in the input", source: "src_ok_12", skus: []string{"SKU1"},
			run: func(t *testing.T, e *env, req provider.CartRequest) {
				req.Items[0].Quantity = 0
				_, err := e.client.CreateCart(context.Background(), req)
				pe := asProviderError(t, err)
				checkErr(t, "CreateCart", pe, wantErr{provider.ClassNotRetryable, provider.ActionFixInput,
					"bad_request/invalid_parameter", 400})
				if !strings.Contains(pe.Message, "items[0].quantity") {
					t.Fatalf("message %q does not name the parameter", pe.Message)
				}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			req := cartRequest(fmt.Sprintf("order-%d/1", i), tt.source, tt.skus...)
			tt.run(t, e, req)
			secrets := append([]string{testKey}, tt.secrets...)
			if tt.source != "" {
				secrets = append(secrets, tt.source)
			}
			checkNoSecrets(t, e.logs.String(), secrets)
		})
	}
}

func wantEvents(t *testing.T, o provider.OrderPlacement, types ...string) {
	t.Helper()
	if len(o.Events) != len(types) {
		t.Fatalf("events %+v, want %v", o.Events, types)
	}
	for i, ev := range o.Events {
		if ev.Type != types[i] || ev.ID == "" || ev.At.IsZero() {
			t.Fatalf("event %d = %+v, want type %s with an id and a time", i, ev, types[i])
		}
	}
}

// checkNoSecrets checks that the client's logs hold no secret. The client logs every error it
// returns (Code, Message and all), so this covers the row's errors too.
func checkNoSecrets(t *testing.T, logs string, secrets []string) {
	t.Helper()
	if !strings.Contains(logs, "digitalriver request") {
		t.Fatal("the client logged nothing; the secrets check would be vacuous")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Fatalf("secret %q appears in the logs:\n%s", s, logs)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverLeak points the client at servers that echo every secret they receive, and at a
// closed port, and checks that no error and no log line carries the key or the payment source.
func TestSecretsNeverLeak(t *testing.T) {
	const source = "src_live_S3CR3T/with?odd chars"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(digitalriver.RequestIDHeader, "req_"+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusBadRequest
		if r.Method == http.MethodGet {
			status = http.StatusBadGateway
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"type":"bad_request","errors":[{"code":"echo %s","parameter":%q,"message":"got %s for %s"}]}`,
			r.Header.Get("Authorization"), r.URL.RawPath+r.URL.Path, r.Header.Get("Authorization"), r.URL.String())
	}))
	defer echo.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>proxy says %s %s</html>", r.Header.Get("Authorization"), r.URL.Path)
	}))
	defer plain.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, base := range []string{echo.URL, plain.URL, closedURL} {
		logs := &syncBuffer{}
		c, err := digitalriver.New(digitalriver.Config{BaseURL: base, APIKey: testKey,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_, err1 := c.CreateCart(ctx, cartRequest("order-s/1", source, "SKU1"))
		err2 := c.AttachSource(ctx, "chk_1", source)
		_, err3 := c.Submit(ctx, provider.SubmitRequest{CartID: "chk_1", PaymentRef: source})
		_, err4 := c.Status(ctx, "chk_1")
		for i, err := range []error{err1, err2, err3, err4} {
			pe := asProviderError(t, err)
			if pe == nil {
				t.Fatalf("%s: call %d succeeded against a failing server", base, i)
			}
			text := fmt.Sprintf("%v %+v %q %q", err, *pe, pe.Code, pe.RequestID)
			for _, s := range []string{testKey, "S3CR3T"} {
				if strings.Contains(text, s) {
					t.Errorf("%s: call %d error leaks %q: %s", base, i, s, text)
				}
			}
		}
		if strings.Contains(logs.String(), testKey) || strings.Contains(logs.String(), "S3CR3T") {
			t.Errorf("%s: logs leak a secret:\n%s", base, logs)
		}
	}
}
