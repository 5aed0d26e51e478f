package digitalriver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/sandbox/drfake"
)

// hookTransport runs before, once, just before the first request matching method and path leaves.
type hookTransport struct {
	method, path string
	before       func()
	once         sync.Once
}

func (h *hookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == h.method && strings.HasSuffix(r.URL.Path, h.path) {
		h.once.Do(h.before)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestReusedCheckoutIsNeverRelabelled: whichever status Digital River gives a consumed checkout
// (404 as documented, or 409 or 400), the client looks the checkout's orders up and answers
// ClassAlreadySubmitted: never "new checkout", "fix the checkout" or "new payment method", so
// nobody acts on it with a second charge.
func TestReusedCheckoutIsNeverRelabelled(t *testing.T) {
	for _, status := range drfake.ReusedCheckoutStatuses {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, drfake.Config{ReusedCheckoutStatus: status})
			ctx := context.Background()
			already := func(what string, err error) {
				t.Helper()
				pe := asProviderError(t, err)
				if pe == nil || pe.Class != provider.ClassAlreadySubmitted || pe.Action != provider.ActionNone || pe.HTTPStatus != status {
					t.Fatalf("%s: %v (%+v), want already-submitted after HTTP %d", what, err, pe, status)
				}
			}

			// The checkout is consumed by someone else between the payment-session gate and POST
			// /orders: the POST itself gets the reused-checkout answer.
			req := cartRequest(fmt.Sprintf("reused-%d/1", status), "src_ok", "SKU1")
			cart := e.createCart(t, req)
			other := e.newClient(t, testKey)
			racing, err := digitalriver.New(digitalriver.Config{BaseURL: e.url, APIKey: testKey, HTTPClient: &http.Client{
				Timeout: 5 * time.Second,
				Transport: &hookTransport{method: http.MethodPost, path: "/orders", before: func() {
					if _, err := other.Submit(ctx, provider.SubmitRequest{CartID: cart.ID}); err != nil {
						t.Errorf("the racing submit: %v", err)
					}
				}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = racing.Submit(ctx, provider.SubmitRequest{CartID: cart.ID})
			already("POST /orders of a checkout consumed after the gate", err)

			// Every later call about the consumed checkout.
			_, err = e.client.Submit(ctx, provider.SubmitRequest{CartID: cart.ID})
			pe := asProviderError(t, err)
			if pe.Class != provider.ClassAlreadySubmitted || pe.HTTPStatus != http.StatusNotFound {
				t.Fatalf("resubmit: %v, want already-submitted (the gate's 404)", err)
			}
			already("update", e.client.UpdateCheckout(ctx, cart.ID, digitalriver.CheckoutPatch{Email: "b@example.com"}))
			already("attach", e.client.AttachSource(ctx, cart.ID, "src_new"))

			es := e.ledger.Entries()
			if len(es) != 1 || es[0].CartID != cart.ID {
				t.Fatalf("ledger %+v, want the checkout charged once", es)
			}

			// A checkout with no order keeps the seed's reading: 409 is a new checkout.
			declined := e.createCart(t, cartRequest(fmt.Sprintf("declined-%d/1", status), "src_declined", "SKU1"))
			_, pe = e.submit(t, declined.ID)
			checkErr(t, "declined", pe, wantErr{provider.ClassNotRetryable, provider.ActionNewCheckout, "conflict/failed-request", 409})
		})
	}
}

// fakeDR answers POST /orders with submitStatus and GET /orders with listStatus and listBody;
// the payment session is always ready.
func fakeDR(t *testing.T, submitStatus, submitBody string, listStatus int, listBody string) (*digitalriver.Client, *atomic.Int32) {
	t.Helper()
	var lookups atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/checkouts/"):
			fmt.Fprint(w, `{"id":"chk_1","payment":{"session":{"state":"requires_confirmation","amountRemainingToBeContributed":0}}}`)
		case r.Method == http.MethodPost && r.URL.Path == "/orders":
			var st int
			fmt.Sscan(submitStatus, &st)
			w.WriteHeader(st)
			fmt.Fprint(w, submitBody)
		case r.Method == http.MethodGet && r.URL.Path == "/orders":
			lookups.Add(1)
			if r.URL.Query().Get("checkoutId") != "chk_1" {
				t.Errorf("lookup %s without the checkout filter", r.URL)
			}
			if listStatus == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "3")
			}
			w.WriteHeader(listStatus)
			fmt.Fprint(w, listBody)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := digitalriver.New(digitalriver.Config{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return c, &lookups
}

// TestRefusalsAreDecidedAfterTheLookup covers what the sandbox can not produce: a lookup that
// fails leaves the refusal undecided, and an order without checkoutId still counts.
func TestRefusalsAreDecidedAfterTheLookup(t *testing.T) {
	conflict := `{"type":"conflict","errors":[{"code":"failed-request","message":"Failed to charge source."}]}`
	badReq := `{"type":"bad_request","errors":[{"code":"order_create_failed","message":"x"}]}`
	for _, tc := range []struct {
		name         string
		status, body string
		listStatus   int
		listBody     string
		class        provider.Class
		action       provider.Action
		lookups      int32
	}{
		{"409, no order: new checkout", "409", conflict, 200, `{"data":[],"hasMore":false}`, provider.ClassNotRetryable, provider.ActionNewCheckout, 1},
		{"409, an order: already submitted", "409", conflict, 200, `{"data":[{"id":"o1","checkoutId":"chk_1","state":"accepted"}]}`, provider.ClassAlreadySubmitted, provider.ActionNone, 1},
		{"400, an order without checkoutId: already submitted", "400", badReq, 200, `{"data":[{"id":"o1","state":"in_review"}]}`, provider.ClassAlreadySubmitted, provider.ActionNone, 1},
		{"400, an order of another checkout is ignored", "400", badReq, 200, `{"data":[{"id":"o1","checkoutId":"chk_2","state":"accepted"}]}`, provider.ClassNotRetryable, provider.ActionFixCheckout, 1},
		{"409, lookup 503: retry, undecided", "409", conflict, 503, `{}`, provider.ClassRetryable, provider.ActionNone, 1},
		{"409, lookup 429: wait, undecided", "409", conflict, 429, `{"type":"too_many_requests","errors":[]}`, provider.ClassRateLimited, provider.ActionNone, 1},
		{"409, lookup 401: investigate, never new checkout", "409", conflict, 401, `{"type":"unauthorized","errors":[]}`, provider.ClassNotRetryable, provider.ActionInvestigate, 1},
		{"409, lookup garbage: investigate", "409", conflict, 200, `not json`, provider.ClassNotRetryable, provider.ActionInvestigate, 1},
		{"500: outcome unknown, no lookup here (Status does it)", "500", `{}`, 200, `{"data":[]}`, provider.ClassOutcomeUnknown, provider.ActionNone, 0},
		{"429: rate limited, no lookup", "429", `{}`, 200, `{"data":[]}`, provider.ClassRateLimited, provider.ActionNone, 0},
		{"401: investigate the key, no lookup", "401", `{}`, 200, `{"data":[]}`, provider.ClassNotRetryable, provider.ActionInvestigate, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, lookups := fakeDR(t, tc.status, tc.body, tc.listStatus, tc.listBody)
			_, err := c.Submit(context.Background(), provider.SubmitRequest{CartID: "chk_1"})
			pe := asProviderError(t, err)
			if pe == nil || pe.Class != tc.class || pe.Action != tc.action || lookups.Load() != tc.lookups {
				t.Fatalf("Submit = %v (%+v), %d lookups; want %v %q after %d lookups", err, pe, lookups.Load(), tc.class, tc.action, tc.lookups)
			}
			if tc.class == provider.ClassRateLimited && pe.RetryAfter <= 0 {
				t.Fatalf("rate limited without a wait: %+v", pe)
			}
		})
	}
}

// recorder is a fake Digital River that records requests and answers every route successfully.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path string
	header       http.Header
	body         map[string]any
}

func (rc *recorder) server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), body})
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/checkouts" && r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":"chk_1","currency":"USD","totalAmount":10}`)
		case strings.HasPrefix(r.URL.Path, "/checkouts/"):
			fmt.Fprint(w, `{"id":"chk_1","payment":{"session":{"state":"requires_confirmation","amountRemainingToBeContributed":0}}}`)
		case r.URL.Path == "/orders" && r.Method == http.MethodPost:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"type":"bad_request","errors":[{"code":"order_create_failed","message":"x"}]}`)
		default:
			fmt.Fprint(w, `{"data":[]}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWhatTheClientSends: browserIp, productDetails, and the troubleshooting headers.
func TestWhatTheClientSends(t *testing.T) {
	rc := &recorder{}
	srv := rc.server(t)
	c, err := digitalriver.New(digitalriver.Config{BaseURL: srv.URL, APIKey: testKey, CountryOfOrigin: "US", ApplicationID: "orderflow/test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := provider.CartRequest{OrderRef: "o-1/1", Currency: "USD", PaymentRef: "src_1", ShopperIP: "2001:db8::7",
		Buyer: provider.Buyer{CountryCode: "US"},
		Items: []provider.Item{
			{ProductID: "SKU1", Quantity: 1, PriceCents: 500},
			{ProductID: "kb-1", Name: "Keyboard", SKUGroupID: "wireless-keyboards", Quantity: 2, PriceCents: 250},
		}}
	if _, err := c.CreateCart(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err = c.Submit(ctx, provider.SubmitRequest{CartID: "chk_1", ShopperIP: "203.0.113.9"})
	pe := asProviderError(t, err)
	if pe == nil || !strings.HasPrefix(pe.RequestID, "of_") {
		t.Fatalf("Submit = %+v, want a request id from the upstream-id sent", pe)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	create := rc.reqs[0]
	items := create.body["items"].([]any)
	sku, pd := items[0].(map[string]any), items[1].(map[string]any)
	details, _ := pd["productDetails"].(map[string]any)
	if create.body["browserIp"] != "2001:db8::7" || sku["skuId"] != "SKU1" || sku["productDetails"] != nil || pd["skuId"] != nil ||
		details["id"] != "kb-1" || details["skuGroupId"] != "wireless-keyboards" || details["name"] != "Keyboard" ||
		details["countryOfOrigin"] != "US" || pd["price"] != 2.5 || pd["quantity"] != 2.0 {
		t.Fatalf("create checkout body %v", create.body)
	}
	if f := create.header.Get("forwarded"); f != `for="[2001:db8::7]"` {
		t.Fatalf("forwarded %q", f)
	}
	seen := map[string]bool{}
	for _, r := range rc.reqs {
		id := r.header.Get("upstream-id")
		if id == "" || seen[id] || r.header.Get("upstream-application-id") != "orderflow/test" {
			t.Fatalf("%s %s: upstream-id %q (seen %v), application %q", r.method, r.path, id, seen[id], r.header.Get("upstream-application-id"))
		}
		seen[id] = true
		if r.method == http.MethodPost && r.path == "/orders" && r.header.Get("forwarded") != "for=203.0.113.9" {
			t.Fatalf("POST /orders forwarded %q", r.header.Get("forwarded"))
		}
		if r.method == http.MethodPost && r.path == "/orders" && len(r.body) != 1 {
			t.Fatalf("POST /orders body %v, want only checkoutId", r.body)
		}
	}
	if last := rc.reqs[len(rc.reqs)-1]; last.method != http.MethodGet || last.path != "/orders" {
		t.Fatalf("the refused POST /orders was not followed by the order lookup: %s %s", last.method, last.path)
	}
}

// TestProductDetailsNeedTheirRequiredFields: an uncatalogued item without a name or without a
// configured country of origin is refused before any request is sent.
func TestProductDetailsNeedTheirRequiredFields(t *testing.T) {
	for name, tc := range map[string]struct {
		origin string
		item   provider.Item
	}{
		"no country of origin": {"", provider.Item{ProductID: "kb-1", Name: "Keyboard", SKUGroupID: "g", Quantity: 1}},
		"no name":              {"US", provider.Item{ProductID: "kb-1", SKUGroupID: "g", Quantity: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			rc := &recorder{}
			c, err := digitalriver.New(digitalriver.Config{BaseURL: rc.server(t).URL, APIKey: testKey, CountryOfOrigin: tc.origin})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CreateCart(context.Background(), provider.CartRequest{OrderRef: "o/1", Items: []provider.Item{tc.item}})
			pe := asProviderError(t, err)
			if pe == nil || pe.Class != provider.ClassNotRetryable || pe.Action != provider.ActionFixInput || pe.Code != "invalid_items" || len(rc.reqs) != 0 {
				t.Fatalf("CreateCart = %+v after %d requests, want fix-input before any", pe, len(rc.reqs))
			}
		})
	}
	if _, err := digitalriver.New(digitalriver.Config{BaseURL: "http://x", APIKey: "k", CountryOfOrigin: "usa"}); err == nil {
		t.Fatal("CountryOfOrigin usa was accepted")
	}
}

// TestProductDetailsAgainstTheSandbox places an order of uncatalogued items and reads them back.
func TestProductDetailsAgainstTheSandbox(t *testing.T) {
	e := newEnv(t, drfake.Config{})
	c, err := digitalriver.New(digitalriver.Config{BaseURL: e.url, APIKey: testKey, CountryOfOrigin: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := cartRequest("pd/1", "src_ok", "SKU1")
	req.ShopperIP = "203.0.113.9"
	req.Items = append(req.Items, provider.Item{Merchant: "digitalriver", ProductID: "kb-1", Name: "Keyboard", SKUGroupID: "wireless-keyboards", Quantity: 3, PriceCents: 1000},
		provider.Item{Merchant: "digitalriver", ProductID: "ms-1", Name: "Mouse", SKUGroupID: "mice", CountryOfOrigin: "JP", Quantity: 1, PriceCents: 500})
	cart, err := c.CreateCart(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, provider.SubmitRequest{CartID: cart.ID}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Status(ctx, cart.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Orders[0].Items
	want := []provider.Item{
		{Merchant: "digitalriver", ProductID: "SKU1", Quantity: 1, PriceCents: 1999},
		{Merchant: "digitalriver", ProductID: "kb-1", Name: "Keyboard", SKUGroupID: "wireless-keyboards", CountryOfOrigin: "DE", Quantity: 3, PriceCents: 1000},
		{Merchant: "digitalriver", ProductID: "ms-1", Name: "Mouse", SKUGroupID: "mice", CountryOfOrigin: "JP", Quantity: 1, PriceCents: 500}, // the item's own country wins
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("order items %+v, want %+v", got, want)
	}
	if es := e.ledger.Entries(); len(es) != 1 || es[0].AmountCents != 1999+3000+500 {
		t.Fatalf("ledger %+v", es)
	}
}

// TestGateOfAConsumedCheckout: Digital River may still return a consumed checkout, its payment
// session past requires_confirmation. The gate's refusal is decided after the lookup too.
func TestGateOfAConsumedCheckout(t *testing.T) {
	for _, tc := range []struct {
		state, list string
		class       provider.Class
		action      provider.Action
	}{
		{"complete", `{"data":[{"id":"o1","checkoutId":"chk_1","state":"accepted"}]}`, provider.ClassAlreadySubmitted, provider.ActionNone},
		{"pending_funds", `{"data":[{"id":"o1","checkoutId":"chk_1","state":"pending_payment"}]}`, provider.ClassAlreadySubmitted, provider.ActionNone},
		{"complete", `{"data":[]}`, provider.ClassNotRetryable, provider.ActionInvestigate},
		{"requires_source", `{"data":[]}`, provider.ClassNotRetryable, provider.ActionNewPaymentMethod},
	} {
		t.Run(tc.state+" "+tc.list, func(t *testing.T) {
			posted := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Method == http.MethodGet && r.URL.Path == "/checkouts/chk_1":
					fmt.Fprintf(w, `{"id":"chk_1","payment":{"session":{"state":%q,"amountRemainingToBeContributed":0}}}`, tc.state)
				case r.Method == http.MethodGet && r.URL.Path == "/orders":
					fmt.Fprint(w, tc.list)
				default:
					posted = true
					w.WriteHeader(http.StatusTeapot)
				}
			}))
			defer srv.Close()
			c, err := digitalriver.New(digitalriver.Config{BaseURL: srv.URL, APIKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Submit(context.Background(), provider.SubmitRequest{CartID: "chk_1"})
			pe := asProviderError(t, err)
			if pe == nil || pe.Class != tc.class || pe.Action != tc.action || posted {
				t.Fatalf("Submit = %v (%+v), POST sent %v; want %v %q and no POST", err, pe, posted, tc.class, tc.action)
			}
		})
	}
}
