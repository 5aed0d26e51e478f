package rye_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
)

// answering is a Rye stand-in that answers every request with one fixed response.
func answering(t *testing.T, status int, header http.Header, body string) (*rye.Client, *bytes.Buffer) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	c, err := rye.New(rye.Config{BaseURL: srv.URL, APIKey: testKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c, &logs
}

// TestStatusOpenWorld: event types, store types, enum values and fields the client was not built
// for never make a placement unreadable; orders are tied to stores through cart.stores[].orderId
// (or the deprecated requestId), items through the store's cart lines.
func TestStatusOpenWorld(t *testing.T) {
	body := `{"data":{"checkoutByCartID":{
	  "status":"SOMETHING_NEW","futureField":{"x":1},
	  "cart":{"id":"cart-1","stores":[
	    {"__typename":"AmazonStore","store":"amazon","orderId":"ord-a","requestId":"ord-a","cartLines":[{"quantity":2,"product":{"id":"B0001"}}]},
	    {"__typename":"ShopifyStore","store":"shop-a.myshopify.com","orderId":"","requestId":"ord-s","cartLines":[{"quantity":1,"variant":{"id":"44454219743530"}}]},
	    {"__typename":"WalmartStore","store":"walmart","orderId":"ord-w","requestId":"ord-w","cartLines":[]}
	  ]},
	  "orders":[
	    {"id":"ord-a","status":"SUCCEEDED","requiredActions":[],"events":[
	      {"__typename":"OrderSubmissionStartedOrderEvent","id":"e1","createdAt":"2026-11-29T10:00:00.123456789Z"},
	      {"__typename":"OrderPlacedOrderEvent","id":"e2","createdAt":"2026-11-29T10:00:03Z"},
	      {"__typename":"RefundCreatedOrderEvent","id":"e3","createdAt":"2026-11-29T10:01:00Z","amount":{"value":100}},
	      {"__typename":"OrderTeleportedOrderEvent","id":"e4","createdAt":"2026-11-29T10:02:00Z","warp":9}
	    ]},
	    {"id":"ord-s","status":"FAILED","requiredActions":[],"events":[
	      {"__typename":"OrderSubmissionStartedOrderEvent","id":"f1","createdAt":"2026-11-29T10:00:00Z"},
	      {"__typename":"OrderFailedOrderEvent","id":"f2","createdAt":"2026-11-29T10:00:03Z","reason":"gone","reasonCode":"A_CODE_FROM_THE_FUTURE","retryable":null},
	      {"__typename":"OrderCancelStartedOrderEvent","id":"f3","createdAt":"2026-11-29T10:00:04Z"}
	    ]},
	    {"id":"ord-w","status":"ACTION_REQUIRED","requiredActions":[{"__typename":"CompletePaymentChallenge","redirectURL":"https://pay.example/3ds/1"}],"events":[
	      {"__typename":"OrderSubmissionStartedOrderEvent","id":"g1","createdAt":"2026-11-29T10:00:00Z"}
	    ]}
	  ]}}}`
	c, logs := answering(t, http.StatusOK, nil, body)
	p, err := c.Status(context.Background(), "cart-1")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if len(p.Orders) != 3 {
		t.Fatalf("orders = %+v", p.Orders)
	}
	a, s, w := p.Orders[0], p.Orders[1], p.Orders[2]
	if a.Merchant != "amazon" || a.Phase() != provider.PhasePlaced || len(a.Events) != 3 ||
		len(a.Items) != 1 || a.Items[0].ProductID != "B0001" || a.Items[0].Quantity != 2 {
		t.Errorf("amazon order = %+v", a)
	}
	if a.Events[0].At.Nanosecond() != 123456789 {
		t.Errorf("createdAt lost its nanoseconds: %v", a.Events[0].At)
	}
	f, ok := s.Failure()
	if s.Merchant != "shop-a.myshopify.com" || s.Phase() != provider.PhaseFailed || !ok || f.Retryable != nil ||
		f.ReasonCode != "A_CODE_FROM_THE_FUTURE" || len(s.Items) != 1 || s.Items[0].ProductID != "44454219743530" {
		t.Errorf("shopify order (mapped by requestId) = %+v", s)
	}
	if w.Merchant != "walmart" || w.Phase() != provider.PhaseActionRequired || len(w.RequiredActions) != 1 ||
		w.RequiredActions[0].RedirectURL != "https://pay.example/3ds/1" || w.RequiredActions[0].Kind != "CompletePaymentChallenge" {
		t.Errorf("action-required order = %+v", w)
	}
	for _, o := range p.Orders {
		for _, e := range o.Events {
			if e.Type == "OrderTeleportedOrderEvent" {
				t.Errorf("unknown event type kept: %+v", e)
			}
		}
	}
	// Logged once per unknown type, however often it is seen.
	if _, err := c.Status(context.Background(), "cart-1"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "OrderTeleportedOrderEvent"); n != 1 {
		t.Errorf("unknown event logged %d times, want once:\n%s", n, logs)
	}
	if n := strings.Count(logs.String(), "WalmartStore"); n != 1 {
		t.Errorf("unknown store type logged %d times, want once:\n%s", n, logs)
	}
}

// TestCreateCartUnpricedAndSubmitNullStatus: a null cost/total is an unknown total, not zero;
// a null (deprecated) store status is "" (unknown).
func TestCreateCartUnpricedAndSubmitNullStatus(t *testing.T) {
	c, _ := answering(t, http.StatusOK, nil, `{"data":{"createCart":{"cart":{"id":"cart-9","createdAt":"2026-11-29T10:00:00Z","cost":{"total":null},
	  "stores":[{"__typename":"AmazonStore","store":"amazon","orderId":"o1","requestId":"o1","isSubmitted":false,"cartLines":[]}]},"errors":[]}}}`)
	cart, err := c.CreateCart(context.Background(), cartReq("o/1", amazon("B1")))
	if err != nil {
		t.Fatal(err)
	}
	if cart.TotalKnown || cart.TotalCents != 0 || len(cart.Merchants) != 1 || cart.Merchants[0] != "amazon" {
		t.Fatalf("cart = %+v", cart)
	}
	c, _ = answering(t, http.StatusOK, nil, `{"data":{"createCart":{"cart":{"id":"cart-9","createdAt":"2026-11-29T10:00:00Z","cost":null,"stores":[]},"errors":[]}}}`)
	if cart, err = c.CreateCart(context.Background(), cartReq("o/1", amazon("B1"))); err != nil || cart.TotalKnown {
		t.Fatalf("cart = %+v, %v", cart, err)
	}
	c, _ = answering(t, http.StatusOK, nil, `{"data":{"submitCart":{"cart":{"id":"cart-9","stores":[{"requestId":"o1","orderId":"o1","isSubmitted":true,"status":null,"errors":[],
	  "store":{"__typename":"AmazonStore","store":"amazon","cartLines":[]}}]},"errors":[]}}}`)
	sub, err := c.Submit(context.Background(), provider.SubmitRequest{CartID: "cart-9", ShopperIP: shopperIP})
	if err != nil || len(sub.Orders) != 1 || sub.Orders[0].Status != "" || sub.Orders[0].OrderID != "o1" || sub.Orders[0].Merchant != "amazon" {
		t.Fatalf("submission = %+v, %v", sub, err)
	}
}

// TestRootErrorsAndRetryable: the real root error codes, and retryable read only where Rye
// documents it (the response's top-level extensions); a flag inside a root error is not a
// documented place and does not count.
func TestRootErrorsAndRetryable(t *testing.T) {
	cases := []struct {
		name, body string
		submit     bool
		class      provider.Class
		action     provider.Action
		retryable  *bool
	}{
		{"cart not found on submit", `{"errors":[{"message":"Cart not found: x","path":["submitCart"],"extensions":{"code":"CART_NOT_FOUND_ERROR"}}],"data":null}`,
			true, provider.ClassNotRetryable, provider.ActionNewCart, nil},
		{"cart expired", `{"errors":[{"message":"expired","extensions":{"code":"CART_EXPIRED_ERROR"}}],"data":null}`,
			true, provider.ClassNotRetryable, provider.ActionNewCart, nil},
		{"internal error on submit is outcome unknown", `{"errors":[{"message":"boom","extensions":{"code":"INTERNAL_SERVER_ERROR"}}],"data":null}`,
			true, provider.ClassOutcomeUnknown, provider.ActionNone, nil},
		{"internal error elsewhere is retryable", `{"errors":[{"message":"boom","extensions":{"code":"INTERNAL_SERVER_ERROR"}}],"data":null}`,
			false, provider.ClassRetryable, provider.ActionNone, nil},
		{"a flag inside a root error is not documented", `{"errors":[{"message":"x","extensions":{"code":"SOMETHING","retryable":true}}],"data":null}`,
			true, provider.ClassUnknownRetryability, provider.ActionInvestigate, nil},
		{"top-level false", `{"data":{"submitCart":{"cart":{"id":"c","stores":[{"requestId":"o","orderId":"o","isSubmitted":false,"status":"FAILED","errors":[{"code":"FEATURE_UNSUPPORTED","message":"no"}],"store":{"__typename":"ShopifyStore","store":"s.myshopify.com","cartLines":[]}}]},"errors":[]}},"extensions":{"retryable":false}}`,
			true, provider.ClassNotRetryable, provider.ActionFixInput, provider.Bool(false)},
		{"top-level not a boolean", `{"data":{"submitCart":{"cart":{"id":"c","stores":[{"requestId":"o","orderId":"o","isSubmitted":false,"status":"FAILED","errors":[{"code":"PAYMENT_FAILED","message":"no"}],"store":{"__typename":"AmazonStore","store":"amazon","cartLines":[]}}]},"errors":[]}},"extensions":{"retryable":"no"}}`,
			true, provider.ClassUnknownRetryability, provider.ActionInvestigate, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := answering(t, http.StatusOK, nil, tc.body)
			var err error
			if tc.submit {
				_, err = c.Submit(context.Background(), provider.SubmitRequest{CartID: "c", ShopperIP: shopperIP})
			} else {
				_, err = c.Status(context.Background(), "c")
			}
			pe := asProviderError(t, err)
			if pe.Class != tc.class || pe.Action != tc.action || (pe.Retryable == nil) != (tc.retryable == nil) ||
				(pe.Retryable != nil && *pe.Retryable != *tc.retryable) {
				t.Fatalf("error = %+v (retryable %v)", pe, pe.Retryable)
			}
		})
	}
}

// TestRateLimitReset: Ratelimit-Reset is honoured as seconds from now or as an epoch time (the
// docs' sample code reads it so); Retry-After, when a server sends one, wins.
func TestRateLimitReset(t *testing.T) {
	epoch := time.Now().Add(7 * time.Second).Unix()
	cases := []struct {
		name     string
		header   http.Header
		min, max time.Duration
	}{
		{"seconds", http.Header{"Ratelimit-Reset": {"3"}, "Ratelimit-Tier": {"Strict"}}, 3 * time.Second, 3 * time.Second},
		{"epoch", http.Header{"Ratelimit-Reset": {strconv.FormatInt(epoch, 10)}}, 5 * time.Second, 8 * time.Second},
		{"epoch in the past", http.Header{"Ratelimit-Reset": {strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)}}, time.Second, time.Second},
		{"retry-after wins", http.Header{"Retry-After": {"2"}, "Ratelimit-Reset": {"9"}}, 2 * time.Second, 2 * time.Second},
		{"nothing", nil, time.Second, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := answering(t, http.StatusTooManyRequests, tc.header, `{"errors":[{"message":"slow down"}]}`)
			_, err := c.CreateCart(context.Background(), cartReq("o/1", amazon("B1")))
			pe := asProviderError(t, err)
			if pe.Class != provider.ClassRateLimited || pe.RetryAfter < tc.min || pe.RetryAfter > tc.max {
				t.Fatalf("error = %+v, wait %v not in [%v, %v]", pe, pe.RetryAfter, tc.min, tc.max)
			}
		})
	}
}
