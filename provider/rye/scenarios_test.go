package rye_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

func TestTimeoutLostCanBeResubmitted(t *testing.T) {
	e := newEnv(t, ryefake.Config{})
	cart := e.createCart(t, cartReq("o-lost/1", amazon("timeout-lost:B1")))
	_, err := e.submit(cart.ID, "tok_visa")
	if pe := asProviderError(t, err); pe.Class != provider.ClassOutcomeUnknown || pe.HTTPStatus != http.StatusServiceUnavailable {
		t.Fatalf("first submit: %+v", pe)
	}
	e.settle(t, cart.ID, provider.PhaseNotStarted, true)
	e.checkLedger(t, cart.ID, ledgerWant{entries: 0})

	if _, err := e.submit(cart.ID, "tok_visa"); err != nil {
		t.Fatalf("resubmitting the original cart: %v", err)
	}
	e.settle(t, cart.ID, provider.PhasePlaced, false)
	e.checkLedger(t, cart.ID, ledgerWant{1, true, false})
}

func TestMultiMerchantPartialSuccess(t *testing.T) {
	e := newEnv(t, ryefake.Config{})
	good := amazon("B-GOOD")
	bad := shop("shop-b.myshopify.com", "placement-failed:V9")
	bad.Quantity = 2
	cart := e.createCart(t, cartReq("o-multi/1", good, bad))
	if got := fmt.Sprint(cart.Merchants); got != "[amazon shop-b.myshopify.com]" {
		t.Fatalf("merchants = %s", got)
	}
	sub, err := e.submit(cart.ID, "tok_visa")
	if err != nil || len(sub.Orders) != 2 || sub.Orders[0].OrderID == sub.Orders[1].OrderID {
		t.Fatalf("Submit = %+v, %v", sub, err)
	}
	p := e.waitPlacement(t, cart.ID, terminal)
	byMerchant := map[string]provider.OrderPlacement{}
	for _, o := range p.Orders {
		byMerchant[o.Merchant] = o
	}
	if ph := byMerchant["amazon"].Phase(); ph != provider.PhasePlaced {
		t.Fatalf("amazon order phase %v", ph)
	}
	failed := byMerchant["shop-b.myshopify.com"]
	if f, ok := failed.Failure(); !ok || f.ReasonCode != "MERCHANT_CONFIGURATION" || !sameFlag(f.Retryable, no) || f.Action != provider.ActionContactProvider {
		t.Fatalf("shop-b failure = %+v, %v", f, ok)
	}
	// The failed order's items, from its store's cart lines, are exactly what was sent
	// (the tracker matches them to the request's items; prices are not read back).
	if len(failed.Items) != 1 || failed.Items[0].Merchant != bad.Merchant || failed.Items[0].ProductID != bad.ProductID ||
		failed.Items[0].Quantity != 2 {
		t.Fatalf("failed order items = %+v, want %+v", failed.Items, bad)
	}
	var types []string
	for _, ev := range failed.Events {
		types = append(types, ev.Type)
	}
	// Rye's OrderSubmissionStarted, PaymentSucceeded, OrderFailed and PaymentRefunded events, in
	// the port's vocabulary.
	if want := fmt.Sprint([]string{provider.EventSubmissionStarted, provider.EventPaymentSucceeded, provider.EventFailed, provider.EventPaymentRefunded}); fmt.Sprint(types) != want {
		t.Fatalf("failed order events = %v, want %s", types, want)
	}
	// One cart, one ledger entry; part of it was placed, so it stays charged.
	e.checkLedger(t, cart.ID, ledgerWant{1, true, false})
}

func TestOOSOnceRestocks(t *testing.T) {
	e := newEnv(t, ryefake.Config{})
	first := e.createCart(t, cartReq("o-oos/1", amazon("oos-once:B-RS")))
	if _, err := e.submit(first.ID, "tok_visa"); err != nil {
		t.Fatal(err)
	}
	e.settle(t, first.ID, provider.PhaseFailed, false)
	replacement := e.createCart(t, cartReq("o-oos/2", amazon("oos-once:B-RS")))
	if _, err := e.submit(replacement.ID, "tok_visa"); err != nil {
		t.Fatal(err)
	}
	e.settle(t, replacement.ID, provider.PhasePlaced, false)
}

func TestRateLimited(t *testing.T) {
	e := newEnv(t, ryefake.Config{StrictRPS: 1})
	cart := e.createCart(t, cartReq("o-rl/1", amazon("B-RL")))
	_, err := e.client.CreateCart(context.Background(), cartReq("o-rl/2", amazon("B-RL")))
	pe := asProviderError(t, err)
	if pe.Class != provider.ClassRateLimited || pe.Code != rye.CodeRateLimited || pe.HTTPStatus != http.StatusTooManyRequests ||
		pe.RetryAfter < time.Second || pe.RetryAfter > 2*time.Second || pe.RequestID == "" {
		t.Fatalf("second createCart: %+v", pe)
	}
	// The default tier is separate (and unlimited here).
	if _, err := e.client.Status(context.Background(), cart.ID); err != nil {
		t.Fatalf("Status during strict limit: %v", err)
	}
}

func TestBadAPIKey(t *testing.T) {
	e := newEnv(t, ryefake.Config{})
	c, err := rye.New(rye.Config{BaseURL: e.url + "/rye", APIKey: "wrong-key-123"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCart(context.Background(), cartReq("o-auth/1", amazon("B1")))
	pe := asProviderError(t, err)
	if pe.Class != provider.ClassNotRetryable || pe.Code != rye.CodeUnauthenticated || pe.HTTPStatus != http.StatusUnauthorized || pe.Action != provider.ActionInvestigate {
		t.Fatalf("error = %+v", pe)
	}
}

func TestUnknownCart(t *testing.T) {
	e := newEnv(t, ryefake.Config{})
	_, err := e.client.Status(context.Background(), "cart_nope")
	// Polling an unknown cart is not a decision the client takes: retryability unknown.
	if pe := asProviderError(t, err); pe.Class != provider.ClassUnknownRetryability || pe.Code != "CART_NOT_FOUND_ERROR" {
		t.Fatalf("Status: %+v", pe)
	}
	_, err = e.submit("cart_nope", "tok_visa")
	if pe := asProviderError(t, err); pe.Class != provider.ClassNotRetryable || pe.Code != "CART_NOT_FOUND_ERROR" || pe.Action != provider.ActionNewCart {
		t.Fatalf("Submit: %+v", pe)
	}
}

func TestProbabilisticFaults(t *testing.T) {
	t.Run("fault rate 1: 503 before anything", func(t *testing.T) {
		e := newEnv(t, ryefake.Config{FaultRate: 1, Latency: ryefake.Latency{Min: time.Millisecond, Max: 2 * time.Millisecond}})
		cart := e.createCart(t, cartReq("o-f/1", amazon("B1")))
		_, err := e.submit(cart.ID, "tok_visa")
		if pe := asProviderError(t, err); pe.Class != provider.ClassOutcomeUnknown || pe.HTTPStatus != http.StatusServiceUnavailable {
			t.Fatalf("Submit: %+v", pe)
		}
		e.settle(t, cart.ID, provider.PhaseNotStarted, true)
		e.checkLedger(t, cart.ID, ledgerWant{entries: 0})
	})
	t.Run("timeout rate 1: 504 after submitting", func(t *testing.T) {
		e := newEnv(t, ryefake.Config{TimeoutRate: 1})
		cart := e.createCart(t, cartReq("o-t/1", amazon("B1")))
		_, err := e.submit(cart.ID, "tok_visa")
		if pe := asProviderError(t, err); pe.Class != provider.ClassOutcomeUnknown || pe.HTTPStatus != http.StatusGatewayTimeout {
			t.Fatalf("Submit: %+v", pe)
		}
		e.settle(t, cart.ID, provider.PhasePlaced, false)
		e.checkLedger(t, cart.ID, ledgerWant{1, true, false})
	})
}

// TestTransportErrors: a request that never left is retryable; a submitCart whose request was
// written before the connection died has an unknown outcome.
func TestTransportErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, _ := rye.New(rye.Config{BaseURL: "http://" + addr, APIKey: testKey})
		_, err = c.Submit(ctx, provider.SubmitRequest{CartID: "cart_1", ShopperIP: shopperIP, PaymentRef: "tok_secret_123"})
		if pe := asProviderError(t, err); pe.Class != provider.ClassRetryable || pe.Code != rye.CodeTransport {
			t.Fatalf("Submit: %+v", pe)
		}
	})
	t.Run("connection dropped after the request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		defer srv.Close()
		c, _ := rye.New(rye.Config{BaseURL: srv.URL, APIKey: testKey})
		_, err := c.Submit(ctx, provider.SubmitRequest{CartID: "cart_1", ShopperIP: shopperIP, PaymentRef: "tok_secret_123"})
		if pe := asProviderError(t, err); pe.Class != provider.ClassOutcomeUnknown || pe.Code != rye.CodeTransport {
			t.Fatalf("Submit: %+v", pe)
		}
		_, err = c.Status(ctx, "cart_1")
		if pe := asProviderError(t, err); pe.Class != provider.ClassRetryable {
			t.Fatalf("Status: %+v", pe)
		}
		_, err = c.CreateCart(ctx, cartReq("o/1", amazon("B1")))
		if pe := asProviderError(t, err); pe.Class != provider.ClassRetryable {
			t.Fatalf("CreateCart: %+v", pe)
		}
	})
}

// TestSecretsNeverLeak drives failing calls, including against a server that echoes the
// secrets back, and checks that neither errors nor logs contain the API key or payment token.
func TestSecretsNeverLeak(t *testing.T) {
	const key, token = "sk_live_SECRETKEY_51Hq", "tok_SECRET_4242_visa"
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	e := newEnv(t, ryefake.Config{APIKey: key})
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", r.Header.Get("Authorization"))
		fmt.Fprintf(w, `{"errors":[{"message":%q,"extensions":{"code":%q}}],"extensions":{"retryable":false}}`,
			r.Header.Get("Authorization")+" "+string(body), r.Header.Get("Authorization"))
	}))
	defer echo.Close()

	var errs []error
	for _, base := range []string{e.url + "/rye", echo.URL} {
		for _, k := range []string{key, key + "x"} {
			c, err := rye.New(rye.Config{BaseURL: base, APIKey: k, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			cart, err := c.CreateCart(context.Background(), cartReq("o-s/1", amazon("unavailable:B1")))
			errs = append(errs, err)
			for _, id := range []string{cart.ID, "cart_missing"} {
				_, err = c.Submit(context.Background(), provider.SubmitRequest{CartID: id, ShopperIP: shopperIP, PaymentRef: token})
				errs = append(errs, err)
				_, err = c.Submit(context.Background(), provider.SubmitRequest{CartID: id, PaymentRef: token})
				errs = append(errs, err)
			}
		}
	}
	_, err := rye.New(rye.Config{BaseURL: "not a url", APIKey: key})
	errs = append(errs, err)

	failures := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failures++
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(s, key) || strings.Contains(s, token) {
				t.Errorf("secret in error: %s", s)
			}
		}
	}
	if failures < 8 {
		t.Fatalf("only %d calls failed; the test does not exercise error paths", failures)
	}
	if logs.Len() == 0 || strings.Contains(logs.String(), key) || strings.Contains(logs.String(), token) {
		t.Fatalf("logs are empty or contain a secret:\n%s", logs.String())
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg rye.Config
		ok  bool
	}{
		{rye.Config{BaseURL: "http://127.0.0.1:1/rye", APIKey: "k"}, true},
		{rye.Config{BaseURL: "https://api.rye.com", APIKey: "k"}, true},
		{rye.Config{APIKey: "k"}, false},
		{rye.Config{BaseURL: "ftp://x", APIKey: "k"}, false},
		{rye.Config{BaseURL: "http://x"}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
		if _, err := rye.New(tt.cfg); (err == nil) != tt.ok {
			t.Errorf("New(%+v) = %v", tt.cfg, err)
		}
	}
}
