package ryefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// newRaw serves a sandbox. Unless the test sets them, both rate-limit tiers are Unlimited
// (tests create, submit and poll faster than Rye's real 1/s and 100/s) and the placement step
// is 5ms.
func newRaw(t *testing.T, cfg Config) *rawEnv {
	t.Helper()
	cfg.APIKey = testKey
	if cfg.PlacementStep == 0 {
		cfg.PlacementStep = 5 * time.Millisecond
	}
	if cfg.StrictRPS == 0 {
		cfg.StrictRPS = Unlimited
	}
	if cfg.DefaultRPS == 0 {
		cfg.DefaultRPS = Unlimited
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

// noErrors fails the test when the answer is not HTTP 200 or carries root errors.
func (r rawResp) noErrors(t *testing.T) rawResp {
	t.Helper()
	if r.status != http.StatusOK || r.json == nil || r.json["errors"] != nil {
		t.Fatalf("want a clean answer, got %d %s", r.status, r.body)
	}
	return r
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

// Short operations for trigger tests; sdk_test.go has the full SDK-shaped ones.
const (
	createQ = `mutation($amazon: [AmazonCartItemsInput!], $shopify: [ShopifyCartItemsInput!], $buyer: BuyerIdentityInput) {
	createCart(input: {items: {amazonCartItemsInput: $amazon, shopifyCartItemsInput: $shopify}, buyerIdentity: $buyer}) {
		cart { id cost { total { value } } stores {
			... on AmazonStore { store orderId requestId isSubmitted cartLines { quantity product { id } } }
			... on ShopifyStore { store orderId requestId isSubmitted cartLines { quantity variant { id } } } } }
		errors { code message } } }`

	submitQ = `mutation($id: ID!, $token: String) { submitCart(input: {id: $id, token: $token}) {
	cart { id stores { orderId requestId isSubmitted status errors { code message }
		store { ... on AmazonStore { store } ... on ShopifyStore { store } } } } errors { code message } } }`

	checkoutQ = `query($id: ID!) { checkoutByCartID(cartID: $id) { status orders { id status marketplace marketplaceOrderIds
	requiredActions { __typename ... on CompletePaymentChallenge { redirectURL } }
	shipments { carrierName carrierTrackingNumber carrierTrackingUrl }
	events { __typename id createdAt ... on OrderFailedOrderEvent { reason reasonCode retryable }
		... on OrderCancelFailedOrderEvent { reason } ... on RefundCreatedOrderEvent { amount { value currency } } } } } }`
)

var defaultBuyer = map[string]any{"email": "a@b.c", "postalCode": "10001", "countryCode": "US",
	"firstName": "Ada", "lastName": "Lovelace", "address1": "1 Main St", "city": "New York", "provinceCode": "NY"}

// createItems creates a cart of Amazon product ids and Shopify variant ids with the default buyer.
func (e *rawEnv) createItems(t *testing.T, amazon, shopify []string) rawResp {
	t.Helper()
	vars := map[string]any{"buyer": defaultBuyer}
	if amazon != nil {
		var items []map[string]any
		for _, id := range amazon {
			items = append(items, map[string]any{"productId": id, "quantity": 1})
		}
		vars["amazon"] = items
	}
	if shopify != nil {
		var items []map[string]any
		for _, id := range shopify {
			items = append(items, map[string]any{"variantId": id, "quantity": 1})
		}
		vars["shopify"] = items
	}
	ref := "ref-" + strings.Join(append(append([]string{}, amazon...), shopify...), ",")
	return e.post(t, map[string]string{HeaderOrderRef: ref}, createQ, vars).noErrors(t)
}

// create creates a cart of one Amazon product and returns its id.
func (e *rawEnv) create(t *testing.T, productID string) string {
	t.Helper()
	r := e.createItems(t, []string{productID}, nil)
	id, _ := dig(r.json, "data", "createCart", "cart", "id").(string)
	if id == "" {
		t.Fatalf("createCart: %s", r.body)
	}
	return id
}

func (e *rawEnv) submit(t *testing.T, cartID, token string) rawResp {
	t.Helper()
	vars := map[string]any{"id": cartID}
	if token != "" {
		vars["token"] = token
	}
	return e.post(t, map[string]string{HeaderShopperIP: "203.0.113.9"}, submitQ, vars)
}

func (e *rawEnv) checkout(t *testing.T, cartID string) rawResp {
	t.Helper()
	return e.post(t, nil, checkoutQ, map[string]any{"id": cartID}).noErrors(t)
}

// waitCheckout polls checkoutByCartID until ok holds for data.checkoutByCartID.
func (e *rawEnv) waitCheckout(t *testing.T, cartID string, what string, ok func(co any) bool) any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.checkout(t, cartID)
		co := dig(r.json, "data", "checkoutByCartID")
		if ok(co) {
			return co
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout never %s: %s", what, r.body)
		}
		time.Sleep(time.Millisecond)
	}
}

func statusIs(want string) func(any) bool {
	return func(co any) bool { return dig(co, "status") == want }
}

func eventTypes(order any) []string {
	var out []string
	evs, _ := dig(order, "events").([]any)
	for _, ev := range evs {
		out = append(out, dig(ev, "__typename").(string))
	}
	return out
}

func findEvent(order any, typename string) any {
	evs, _ := dig(order, "events").([]any)
	for _, ev := range evs {
		if dig(ev, "__typename") == typename {
			return ev
		}
	}
	return nil
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

func has(m any, key string) bool {
	mm, ok := m.(map[string]any)
	if !ok {
		return false
	}
	_, ok = mm[key]
	return ok
}

func (e *rawEnv) entry(t *testing.T, cartID string) (ledger.Entry, int) {
	t.Helper()
	var got ledger.Entry
	n := 0
	for _, en := range e.ledger.Entries() {
		if en.CartID == cartID {
			got, n = en, n+1
		}
	}
	return got, n
}

// waitRefunded polls the ledger until the cart's entry is refunded.
func (e *rawEnv) waitRefunded(t *testing.T, cartID string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if en, n := e.entry(t, cartID); n == 1 && en.Refunded {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger entry of %s never refunded: %+v", cartID, e.ledger.Entries())
		}
		time.Sleep(time.Millisecond)
	}
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
		code   string
	}{
		{"no auth", http.MethodPost, QueryPath, "", `{"query":"{__typename}"}`, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"wrong key", http.MethodPost, QueryPath, "Basic nope", `{"query":"{__typename}"}`, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"bearer", http.MethodPost, QueryPath, "Bearer " + testKey, `{"query":"{__typename}"}`, http.StatusUnauthorized, "UNAUTHENTICATED"},
		{"GET", http.MethodGet, QueryPath, "Basic " + testKey, ``, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"wrong path", http.MethodPost, "/v2/query", "Basic " + testKey, `{}`, http.StatusNotFound, "NOT_FOUND"},
		{"bad json", http.MethodPost, QueryPath, "Basic " + testKey, `{`, http.StatusBadRequest, "JSON_PARSE_ERROR"},
		{"parse error", http.MethodPost, QueryPath, "Basic " + testKey, `{"query":"{ checkoutByCartID("}`, http.StatusOK, "GRAPHQL_PARSE_ERROR"},
		{"ok", http.MethodPost, QueryPath, "Basic " + testKey, `{"query":"{__typename}"}`, http.StatusOK, ""},
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
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.status || resp.Header.Get(HeaderRequestID) == "" {
				t.Fatalf("status %d (want %d), request id %q", resp.StatusCode, tt.status, resp.Header.Get(HeaderRequestID))
			}
			if got, _ := dig(body, "errors", 0, "extensions", "code").(string); got != tt.code {
				t.Fatalf("code %q, want %q: %v", got, tt.code, body)
			}
		})
	}
}

func TestRootErrors(t *testing.T) {
	e := newRaw(t, Config{})
	check := func(t *testing.T, r rawResp, code string, dataNull bool) {
		t.Helper()
		if r.status != http.StatusOK || dig(r.json, "errors", 0, "extensions", "code") != code {
			t.Fatalf("want root error %s: %d %s", code, r.status, r.body)
		}
		// DOCS root-errors: extensions {code} only; no retryable there, nor at the top level.
		if ext := dig(r.json, "errors", 0, "extensions").(map[string]any); len(ext) != 1 || has(r.json, "extensions") {
			t.Fatalf("root error must carry extensions {code} only and no top-level extensions: %s", r.body)
		}
		if dataNull && dig(r.json, "data") != nil {
			t.Fatalf("data must be null: %s", r.body)
		}
	}
	t.Run("unknown cart on submitCart", func(t *testing.T) {
		r := e.submit(t, "someInvalidCartId", "tok_visa")
		check(t, r, "CART_NOT_FOUND_ERROR", true)
		if dig(r.json, "errors", 0, "message") != "Cart not found: someInvalidCartId" || fmt.Sprint(dig(r.json, "errors", 0, "path")) != "[submitCart]" {
			t.Fatalf("message/path as in the DOCS example: %s", r.body)
		}
	})
	t.Run("unknown cart on checkoutByCartID", func(t *testing.T) {
		r := e.post(t, nil, checkoutQ, map[string]any{"id": "nope"})
		check(t, r, "CART_NOT_FOUND_ERROR", false)
		if d := dig(r.json, "data"); d == nil || dig(d, "checkoutByCartID") != nil {
			t.Fatalf("checkoutByCartID is nullable: data.checkoutByCartID null: %s", r.body)
		}
	})
	t.Run("unknown cart on getCart", func(t *testing.T) {
		check(t, e.post(t, nil, `query($id: ID!) { getCart(id: $id) { cart { id } errors { code } } }`, map[string]any{"id": "nope"}), "CART_NOT_FOUND_ERROR", true)
	})
	t.Run("expired", func(t *testing.T) {
		id := e.create(t, "expired:B6")
		check(t, e.submit(t, id, "tok_visa"), "CART_EXPIRED_ERROR", true)
		if _, n := e.entry(t, id); n != 0 {
			t.Fatal("an expired cart was submitted")
		}
	})
	t.Run("root-internal took effect", func(t *testing.T) {
		id := e.create(t, "root-internal:B7")
		check(t, e.submit(t, id, "tok_visa"), "INTERNAL_SERVER_ERROR", true)
		if en, n := e.entry(t, id); n != 1 || !en.Charged || en.OrderRef != "ref-root-internal:B7" {
			t.Fatalf("root-internal: the submission must have taken effect: %+v", e.ledger.Entries())
		}
		r := e.submit(t, id, "tok_visa").noErrors(t)
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "ALREADY_SUBMITTED" || dig(r.json, "extensions", "retryable") != false {
			t.Fatalf("resubmit: %s", r.body)
		}
		e.waitCheckout(t, id, "SUCCEEDED", statusIs("SUCCEEDED"))
	})
	t.Run("orderByID unknown is null", func(t *testing.T) {
		r := e.post(t, nil, `query { orderByID(id: "nope") { id } }`, nil).noErrors(t)
		if d := dig(r.json, "data"); !has(d, "orderByID") || dig(d, "orderByID") != nil {
			t.Fatalf("%s", r.body)
		}
	})
}

func TestRateLimits(t *testing.T) {
	for _, tt := range []struct {
		name       string
		cfg        Config
		epoch      bool
		retryAfter bool
	}{
		{"zero config is real, reset in seconds, no Retry-After", Config{}, false, false},
		{"reset as epoch", Config{ResetEpoch: true}, true, false},
		{"Retry-After when configured", Config{RetryAfter: true}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s, d := tt.cfg.RateLimits(); s != 1 || d != 100 {
				t.Fatalf("limits %v %v, want the real 1 and 100", s, d)
			}
			// newRaw makes zero limits unlimited; these cases want the real ones.
			cfg := tt.cfg
			cfg.StrictRPS, cfg.DefaultRPS = RealStrictRPS, RealDefaultRPS
			e := newRaw(t, cfg)
			id := e.create(t, "B1")
			before := time.Now()
			r := e.post(t, nil, createQ, map[string]any{"amazon": []map[string]any{{"productId": "B2", "quantity": 1}}})
			h := r.header
			if r.status != http.StatusTooManyRequests || h.Get("Ratelimit-Tier") != "Strict" || h.Get("Ratelimit-Limit") != "1" ||
				h.Get("Ratelimit-Remaining") != "0" {
				t.Fatalf("second createCart: %d %v %s", r.status, h, r.body)
			}
			reset, err := strconv.ParseInt(h.Get("Ratelimit-Reset"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if tt.epoch {
				if reset < before.Unix() || reset > time.Now().Add(2*time.Second).Unix() {
					t.Fatalf("Ratelimit-Reset %d is not the epoch second of the reset (now %d)", reset, before.Unix())
				}
			} else if reset != 1 {
				t.Fatalf("Ratelimit-Reset = %d, want 1 (seconds)", reset)
			}
			if got := h.Get("Retry-After"); (got != "") != tt.retryAfter || (tt.retryAfter && got != "1") {
				t.Fatalf("Retry-After %q (want present: %v)", got, tt.retryAfter)
			}
			r = e.checkout(t, id)
			if h := r.header; h.Get("Ratelimit-Tier") != "Default" || h.Get("Ratelimit-Limit") != "100" || h.Get("Ratelimit-Remaining") != "99" {
				t.Fatalf("checkout: %v", h)
			}
			if !tt.epoch && r.header.Get("Ratelimit-Reset") != "0" {
				t.Fatalf("reset of a tier with tokens left: %v", r.header)
			}
		})
	}
	t.Run("unlimited", func(t *testing.T) {
		e := newRaw(t, Config{StrictRPS: Unlimited, DefaultRPS: -5})
		for i := range 5 {
			e.create(t, fmt.Sprint("B", i))
		}
		if s, d := e.srv.Config().RateLimits(); s != Unlimited || d != Unlimited {
			t.Fatalf("limits %v %v", s, d)
		}
	})
}

func TestOperationTier(t *testing.T) {
	for q, want := range map[string]string{
		`mutation { createCart(input: {items: {}}) { cart { id } } }`:                                                      TierStrict,
		`mutation S { submitCart(input: {id: "x"}) { cart { id } } }`:                                                      TierStrict,
		`query { checkoutByCartID(cartID: "x") { status } }`:                                                               TierDefault,
		`query A { checkoutByCartID(cartID: "x") { status } } mutation B { submitCart(input: {id: "x"}) { cart { id } } }`: TierStrict,
		`not graphql`: TierDefault,
	} {
		if got := operationTier(q, ""); got != want {
			t.Errorf("operationTier(%q) = %s, want %s", q, got, want)
		}
	}
	two := `query A { checkoutByCartID(cartID: "x") { status } } mutation B { submitCart(input: {id: "x"}) { cart { id } } }`
	if got := operationTier(two, "A"); got != TierDefault {
		t.Errorf("operation A: %s", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{StrictRPS: RealStrictRPS, DefaultRPS: RealDefaultRPS, FaultRate: 0.1, TimeoutRate: 1, Latency: Latency{Min: 1, Max: 2}}, true},
		{Config{StrictRPS: Unlimited, DefaultRPS: -3}, true},
		{Config{DefaultShopifyStore: "my-shop.myshopify.com"}, true},
		{Config{DefaultShopifyStore: "a@b"}, false},
		{Config{PlacementStep: -1}, false},
		{Config{CartTTL: -1}, false},
		{Config{FaultRate: 1.5}, false},
		{Config{TimeoutRate: -0.1}, false},
		{Config{Latency: Latency{Min: 2, Max: 1}}, false},
	} {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v", tt.cfg, err)
		}
		s, err := New(tt.cfg, nil)
		if (err == nil) != tt.ok {
			t.Errorf("New(%+v) = %v", tt.cfg, err)
		}
		if s != nil {
			_ = s.Close()
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

func TestPricesAndStores(t *testing.T) {
	for _, id := range []string{"", "B00X", "shop/1", strings.Repeat("z", 300)} {
		if p := priceCents(id); p < 500 || p > 20000 || p != priceCents(id) {
			t.Errorf("priceCents(%q) = %d", id, p)
		}
	}
	if got := displayUSD(1234); got != "$12.34" {
		t.Errorf("displayUSD = %s", got)
	}
	for id, want := range map[string]string{
		"V1":                                  "default.myshopify.com",
		"44454219743530":                      "default.myshopify.com",
		"oos-once:V1@shop-a.myshopify.com":    "shop-a.myshopify.com",
		"a@b@shop-b.myshopify.com":            "shop-b.myshopify.com",
		"V1@":                                 "default.myshopify.com",
		"shop-a.myshopify.com/44454219743530": "default.myshopify.com", // the old "<store>/<variant>" form is gone
	} {
		if got := shopifyStoreOf(id, "default.myshopify.com"); got != want {
			t.Errorf("shopifyStoreOf(%q) = %q, want %q", id, got, want)
		}
	}
	for id, want := range map[string]scenario{"B1": scenarioNone, "nope:B1": scenarioNone, "3ds-pass:B1": scenario3DSPass, "not-found:x@y": scenarioNotFound} {
		if got := scenarioPrefix(id); got != want {
			t.Errorf("scenarioPrefix(%q) = %q", id, got)
		}
	}
}
