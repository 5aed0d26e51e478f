package rye

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/sandbox/ledger"
)

const testKey = "test-key"

type rawEnv struct {
	srv    *Server
	url    string
	ledger *ledger.Ledger
}

func newRaw(t *testing.T, cfg Config) *rawEnv {
	t.Helper()
	cfg.APIKey = testKey
	if cfg.PlacementStep == 0 {
		cfg.PlacementStep = 5 * time.Millisecond
	}
	l := ledger.New()
	s, err := New(cfg, l)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { hs.Close(); _ = s.Close() })
	return &rawEnv{srv: s, url: hs.URL, ledger: l}
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (e *rawEnv) post(t *testing.T, headers map[string]string, query string, vars map[string]any) rawResp {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.url+QueryPath, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+testKey)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := rawResp{status: resp.StatusCode, header: resp.Header, body: body}
	_ = json.Unmarshal(body, &r.json)
	return r
}

const createQ = `mutation($productId: ID!) { createCart(input: {items: {amazonCartItemsInput: [{productId: $productId, quantity: 1}]},
	buyerIdentity: {email: "a@b.c", postalCode: "10001", countryCode: "US"}}) { cart { id stores { store orderId isSubmitted } } errors { code message } } }`

const submitQ = `mutation($id: ID!, $token: String) { submitCart(input: {id: $id, token: $token}) {
	cart { id stores { store orderId isSubmitted status errors { code message } } } errors { code message } } }`

const checkoutQ = `query($id: ID!) { checkoutByCartID(cartID: $id) { status orders { id status store events {
	__typename id createdAt ... on OrderFailedOrderEvent { reason reasonCode retryable } } } } }`

func (e *rawEnv) create(t *testing.T, productID string) string {
	t.Helper()
	r := e.post(t, map[string]string{HeaderOrderRef: "ref-" + productID}, createQ, map[string]any{"productId": productID})
	id, _ := dig(r.json, "data", "createCart", "cart", "id").(string)
	if r.status != http.StatusOK || id == "" {
		t.Fatalf("createCart: %d %s", r.status, r.body)
	}
	return id
}

func (e *rawEnv) submit(t *testing.T, cartID, token string) rawResp {
	t.Helper()
	return e.post(t, map[string]string{HeaderShopperIP: "203.0.113.9"}, submitQ, map[string]any{"id": cartID, "token": token})
}

// dig walks decoded JSON by object keys and array indexes.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestWireFormat(t *testing.T) {
	e := newRaw(t, Config{})

	t.Run("retryable false in top-level extensions", func(t *testing.T) {
		r := e.submit(t, e.create(t, "B1"), "tok_declined")
		if got := dig(r.json, "extensions", "retryable"); got != false {
			t.Fatalf("extensions.retryable = %v in %s", got, r.body)
		}
		if got := dig(r.json, "data", "submitCart", "cart", "stores", 0, "errors", 0, "code"); got != "PAYMENT_FAILED" {
			t.Fatalf("store error = %v in %s", got, r.body)
		}
	})
	t.Run("retryable absent", func(t *testing.T) {
		r := e.submit(t, e.create(t, "unknown-error:B2"), "tok_visa")
		if _, ok := r.json["extensions"]; ok || dig(r.json, "data", "submitCart", "cart", "stores", 0, "errors", 0, "code") != "SUBMIT_STORE_FAILED" {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("retryable true", func(t *testing.T) {
		r := e.submit(t, e.create(t, "unavailable:B3"), "tok_visa")
		if dig(r.json, "extensions", "retryable") != true {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("success has no extensions", func(t *testing.T) {
		r := e.submit(t, e.create(t, "B4"), "tok_visa")
		if _, ok := r.json["extensions"]; ok || dig(r.json, "data", "submitCart", "cart", "stores", 0, "status") != "COMPLETED" ||
			dig(r.json, "data", "submitCart", "cart", "stores", 0, "isSubmitted") != true {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("504 without GraphQL body, yet submitted", func(t *testing.T) {
		id := e.create(t, "timeout-placed:B5")
		r := e.submit(t, id, "tok_visa")
		if r.status != http.StatusGatewayTimeout || json.Valid(r.body) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if n := len(e.ledger.Entries()); n == 0 || e.ledger.Entries()[n-1].CartID != id || e.ledger.Entries()[n-1].OrderRef != "ref-timeout-placed:B5" {
			t.Fatalf("ledger %+v", e.ledger.Entries())
		}
		r = e.submit(t, id, "tok_visa")
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "ALREADY_SUBMITTED" || dig(r.json, "extensions", "retryable") != false {
			t.Fatalf("resubmit: %s", r.body)
		}
	})
	t.Run("CART_EXPIRED_ERROR is a root error", func(t *testing.T) {
		r := e.submit(t, e.create(t, "expired:B6"), "tok_visa")
		if dig(r.json, "errors", 0, "extensions", "code") != "CART_EXPIRED_ERROR" || dig(r.json, "errors", 0, "extensions", "retryable") != false ||
			dig(r.json, "data") != nil {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("shopper IP required", func(t *testing.T) {
		r := e.post(t, nil, submitQ, map[string]any{"id": e.create(t, "B7")})
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "SHOPPER_IP_IS_REQUIRED" {
			t.Fatalf("body %s", r.body)
		}
	})
	t.Run("events are an interface with __typename", func(t *testing.T) {
		id := e.create(t, "placement-unknown:B8")
		r := e.post(t, nil, checkoutQ, map[string]any{"id": id})
		if dig(r.json, "data", "checkoutByCartID", "orders", 0, "status") != "PENDING" ||
			len(dig(r.json, "data", "checkoutByCartID", "orders", 0, "events").([]any)) != 0 {
			t.Fatalf("before submit: %s", r.body)
		}
		e.submit(t, id, "tok_visa")
		deadline := time.Now().Add(5 * time.Second)
		for {
			r = e.post(t, nil, checkoutQ, map[string]any{"id": id})
			if dig(r.json, "data", "checkoutByCartID", "status") == "FAILED" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never failed: %s", r.body)
			}
			time.Sleep(time.Millisecond)
		}
		var types []string
		var failed map[string]any
		for _, ev := range dig(r.json, "data", "checkoutByCartID", "orders", 0, "events").([]any) {
			m := ev.(map[string]any)
			types = append(types, m["__typename"].(string))
			if m["__typename"] == "OrderFailedOrderEvent" {
				failed = m
			}
		}
		want := "[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderFailedOrderEvent PaymentRefundedOrderEvent]"
		if fmt.Sprint(types) != want {
			t.Fatalf("events %v, want %s", types, want)
		}
		if v, ok := failed["retryable"]; !ok || v != nil || failed["reasonCode"] != "INTERNAL_ERROR" {
			t.Fatalf("failed event %v: retryable must be present and null", failed)
		}
	})
}

func TestHTTPErrors(t *testing.T) {
	e := newRaw(t, Config{})
	for _, tt := range []struct {
		name   string
		method string
		path   string
		auth   string
		body   string
		status int
	}{
		{"no auth", http.MethodPost, QueryPath, "", `{"query":"{__typename}"}`, http.StatusUnauthorized},
		{"wrong key", http.MethodPost, QueryPath, "Basic nope", `{"query":"{__typename}"}`, http.StatusUnauthorized},
		{"bearer", http.MethodPost, QueryPath, "Bearer " + testKey, `{"query":"{__typename}"}`, http.StatusUnauthorized},
		{"GET", http.MethodGet, QueryPath, "Basic " + testKey, ``, http.StatusMethodNotAllowed},
		{"wrong path", http.MethodPost, "/v2/query", "Basic " + testKey, `{}`, http.StatusNotFound},
		{"bad json", http.MethodPost, QueryPath, "Basic " + testKey, `{`, http.StatusBadRequest},
		{"ok", http.MethodPost, QueryPath, "Basic " + testKey, `{"query":"{__typename}"}`, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.url+tt.path, strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get(HeaderRequestID) == "" {
				t.Fatalf("status %d (want %d), request id %q", resp.StatusCode, tt.status, resp.Header.Get(HeaderRequestID))
			}
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	e := newRaw(t, Config{StrictRPS: 1, DefaultRPS: 100})
	id := e.create(t, "B1")
	r := e.post(t, nil, createQ, map[string]any{"productId": "B2"})
	if r.status != http.StatusTooManyRequests || r.header.Get("Ratelimit-Tier") != tierStrict || r.header.Get("Ratelimit-Limit") != "1" ||
		r.header.Get("Ratelimit-Remaining") != "0" || r.header.Get("Ratelimit-Reset") != "1" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("second createCart: %d %v %s", r.status, r.header, r.body)
	}
	r = e.post(t, nil, checkoutQ, map[string]any{"id": id})
	if r.status != http.StatusOK || r.header.Get("Ratelimit-Tier") != tierDefault || r.header.Get("Ratelimit-Limit") != "100" ||
		r.header.Get("Ratelimit-Remaining") != "99" || r.header.Get("Ratelimit-Reset") != "0" {
		t.Fatalf("checkout: %d %v", r.status, r.header)
	}
}

func TestOperationTier(t *testing.T) {
	for q, want := range map[string]string{
		`mutation { createCart(input: {items: {}}) { cart { id } } }`:                                                      tierStrict,
		`mutation S { submitCart(input: {id: "x"}) { cart { id } } }`:                                                      tierStrict,
		`query { checkoutByCartID(cartID: "x") { status } }`:                                                               tierDefault,
		`query A { checkoutByCartID(cartID: "x") { status } } mutation B { submitCart(input: {id: "x"}) { cart { id } } }`: tierStrict,
		`not graphql`: tierDefault,
	} {
		if got := operationTier(q, ""); got != want {
			t.Errorf("operationTier(%q) = %s, want %s", q, got, want)
		}
	}
	two := `query A { checkoutByCartID(cartID: "x") { status } } mutation B { submitCart(input: {id: "x"}) { cart { id } } }`
	if got := operationTier(two, "A"); got != tierDefault {
		t.Errorf("operation A: %s", got)
	}
}

func TestMerchantsAndPrices(t *testing.T) {
	for _, tt := range []struct {
		id, store string
		sc        scenario
		shopify   bool
	}{
		{"B00X", "amazon", scenarioNone, false},
		{"oos-once:B00X", "amazon", scenarioOOSOnce, false},
		{"nope:B00X", "amazon", scenarioNone, false},
		{"shop-a.myshopify.com/123", "shop-a.myshopify.com", scenarioNone, true},
		{"shop-a.myshopify.com/stuck:123", "shop-a.myshopify.com", scenarioStuck, true},
		{"unavailable-2:shop-b/9", "shop-b", scenarioUnavailable2, true},
		{"unavailable:9", "shopify", scenarioUnavailable, true},
		{"9", "shopify", scenarioNone, true},
	} {
		st, sc := amazonItem(tt.id)
		if tt.shopify {
			st, sc = shopifyItem(tt.id)
		}
		if st != tt.store || sc != tt.sc {
			t.Errorf("%q: store %q scenario %q, want %q %q", tt.id, st, sc, tt.store, tt.sc)
		}
	}
	for _, id := range []string{"", "B00X", "shop/1", strings.Repeat("z", 300)} {
		if p := priceCents(id); p < 500 || p > 20000 || p != priceCents(id) {
			t.Errorf("priceCents(%q) = %d", id, p)
		}
	}
	if got := displayUSD(1234); got != "$12.34" {
		t.Errorf("displayUSD = %s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{StrictRPS: RealStrictRPS, DefaultRPS: RealDefaultRPS, FaultRate: 0.1, TimeoutRate: 1, Latency: Latency{Min: 1, Max: 2}}, true},
		{Config{PlacementStep: -1}, false},
		{Config{CartTTL: -1}, false},
		{Config{StrictRPS: -1}, false},
		{Config{FaultRate: 1.5}, false},
		{Config{TimeoutRate: -0.1}, false},
		{Config{Latency: Latency{Min: 2, Max: 1}}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
		if _, err := New(tt.cfg, nil); (err == nil) != tt.ok {
			t.Errorf("New(%+v) = %v", tt.cfg, err)
		}
	}
}

// TestCloseStopsRefunds: no timer fires after Close.
func TestCloseStopsRefunds(t *testing.T) {
	step := 40 * time.Millisecond
	e := newRaw(t, Config{PlacementStep: step})
	id := e.create(t, "placement-failed:B1")
	start := time.Now()
	if r := e.submit(t, id, "tok_visa"); r.status != http.StatusOK {
		t.Fatalf("submit: %d %s", r.status, r.body)
	}
	_ = e.srv.Close()
	_ = e.srv.Close() // idempotent
	if time.Since(start) >= 3*step {
		t.Skip("the machine is too slow to close before the refund timer fires")
	}
	until := time.Now().Add(6 * step)
	for time.Now().Before(until) {
		if en := e.ledger.Entries(); len(en) != 1 || en[0].Refunded {
			t.Fatalf("ledger after Close: %+v", en)
		}
		time.Sleep(step)
	}
}

func TestCombineRetryable(t *testing.T) {
	tr, fa := boolPtr(true), boolPtr(false)
	for _, tt := range []struct {
		in   []*bool
		want string
	}{
		{[]*bool{tr, tr}, "true"}, {[]*bool{tr, nil}, "absent"}, {[]*bool{nil, fa, tr}, "false"}, {[]*bool{nil}, "absent"},
	} {
		got := "absent"
		if r := combineRetryable(tt.in); r != nil {
			got = fmt.Sprint(*r)
		}
		if got != tt.want {
			t.Errorf("combineRetryable = %s, want %s", got, tt.want)
		}
	}
}
