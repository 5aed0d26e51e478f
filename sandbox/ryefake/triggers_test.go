package ryefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSubmitTriggers covers every trigger decided by submitCart: the store or cart error, the
// store status, the top-level retryable extension, and whether the ledger has the cart.
func TestSubmitTriggers(t *testing.T) {
	e := newRaw(t, Config{})
	type want struct {
		cartErr   string // cart-level error code, or ""
		storeErr  string // first store's error code, or ""
		status    any    // first store's status (nil: null)
		retryable any    // top-level extensions.retryable: true, false, or "absent"
		ledger    bool
	}
	for _, tt := range []struct {
		name    string
		product string
		token   string
		buyer   map[string]any // nil: defaultBuyer; empty: none
		want    want
	}{
		{"success", "B1", "tok_visa", nil, want{"", "", "COMPLETED", "absent", true}},
		{"no token", "B2", "", nil, want{"", "", "COMPLETED", "absent", true}},
		{"tok_declined", "B3", "tok_declined", nil, want{"", "PAYMENT_FAILED", "PAYMENT_FAILED", false, false}},
		{"postal 00000", "B4", "tok_visa", map[string]any{"countryCode": "US", "postalCode": "00000"}, want{"", "UNDELIVERABLE", "FAILED", false, false}},
		{"bad email", "B5", "tok_visa", map[string]any{"countryCode": "US", "email": "nope"}, want{"BUYER_IDENTITY_INVALID_EMAIL", "", "FAILED", false, false}},
		{"no buyer", "B6", "tok_visa", map[string]any{}, want{"BUYER_IDENTITY_MISSING", "", "FAILED", false, false}},
		{"unavailable", "unavailable:B7", "tok_visa", nil, want{"", "PRODUCTS_UNAVAILABLE", "FAILED", true, false}},
		{"unsupported", "unsupported:B8", "tok_visa", nil, want{"", "FEATURE_UNSUPPORTED", "FAILED", false, false}},
		{"bad-shipping", "bad-shipping:B9", "tok_visa", nil, want{"", "SUBMIT_STORE_FAILED", "FAILED", false, false}},
		{"unknown-error", "unknown-error:B10", "tok_visa", nil, want{"", "SUBMIT_STORE_FAILED", "FAILED", "absent", false}},
		{"no-status", "no-status:B11", "tok_visa", nil, want{"", "", nil, "absent", true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]any{"amazon": []map[string]any{{"productId": tt.product, "quantity": 1}}, "buyer": defaultBuyer}
			if tt.buyer != nil {
				vars["buyer"] = tt.buyer
				if len(tt.buyer) == 0 {
					delete(vars, "buyer")
				}
			}
			id := dig(e.post(t, nil, createQ, vars).noErrors(t).json, "data", "createCart", "cart", "id").(string)
			r := e.submit(t, id, tt.token).noErrors(t)
			res := dig(r.json, "data", "submitCart")
			w := tt.want
			if got, _ := dig(res, "errors", 0, "code").(string); got != w.cartErr {
				t.Fatalf("cart error %q, want %q: %s", got, w.cartErr, r.body)
			}
			st := dig(res, "cart", "stores", 0)
			if got, _ := dig(st, "errors", 0, "code").(string); got != w.storeErr {
				t.Fatalf("store error %q, want %q: %s", got, w.storeErr, r.body)
			}
			if !has(st, "status") || dig(st, "status") != w.status {
				t.Fatalf("store status %v, want %v: %s", dig(st, "status"), w.status, r.body)
			}
			if dig(st, "isSubmitted") != w.ledger {
				t.Fatalf("isSubmitted: %s", r.body)
			}
			got := any("absent")
			if has(r.json, "extensions") {
				got = dig(r.json, "extensions", "retryable")
			}
			if got != w.retryable {
				t.Fatalf("extensions.retryable %v, want %v: %s", got, w.retryable, r.body)
			}
			en, n := e.entry(t, id)
			if (n == 1) != w.ledger || (w.ledger && en.Charged != (tt.token != "")) {
				t.Fatalf("ledger %+v (%d entries), want recorded %v", en, n, w.ledger)
			}
		})
	}

	t.Run("no Rye-Shopper-IP", func(t *testing.T) {
		id := e.create(t, "B20")
		r := e.post(t, nil, submitQ, map[string]any{"id": id, "token": "tok_visa"}).noErrors(t)
		msg, _ := dig(r.json, "data", "submitCart", "errors", 0, "message").(string)
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "SUBMIT_CART_FAILED" || !strings.Contains(msg, HeaderShopperIP) ||
			dig(r.json, "extensions", "retryable") != false {
			t.Fatalf("%s", r.body)
		}
		if _, n := e.entry(t, id); n != 0 {
			t.Fatal("submitted without the shopper IP")
		}
	})
	t.Run("ALREADY_SUBMITTED", func(t *testing.T) {
		id := e.create(t, "B21")
		e.submit(t, id, "tok_visa").noErrors(t)
		r := e.submit(t, id, "tok_visa").noErrors(t)
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "ALREADY_SUBMITTED" || dig(r.json, "extensions", "retryable") != false ||
			dig(r.json, "data", "submitCart", "cart", "stores", 0, "isSubmitted") != true {
			t.Fatalf("%s", r.body)
		}
		if _, n := e.entry(t, id); n != 1 {
			t.Fatal("a resubmission was recorded twice")
		}
	})
	t.Run("CART_IS_EMPTY", func(t *testing.T) {
		r := e.post(t, nil, createQ, map[string]any{"buyer": defaultBuyer}).noErrors(t)
		id := dig(r.json, "data", "createCart", "cart", "id").(string)
		r = e.submit(t, id, "tok_visa").noErrors(t)
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "CART_IS_EMPTY" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("upstream-2", func(t *testing.T) {
		id := e.create(t, "upstream-2:B22")
		for i := range 2 {
			r := e.submit(t, id, "tok_visa").noErrors(t)
			if dig(r.json, "data", "submitCart", "cart", "stores", 0, "errors", 0, "code") != "UPSTREAM_SERVICE_ERROR" || dig(r.json, "extensions", "retryable") != true {
				t.Fatalf("call %d: %s", i+1, r.body)
			}
		}
		if r := e.submit(t, id, "tok_visa").noErrors(t); dig(r.json, "data", "submitCart", "cart", "stores", 0, "status") != "COMPLETED" {
			t.Fatalf("third call: %s", r.body)
		}
	})
	t.Run("internal-1", func(t *testing.T) {
		id := e.create(t, "internal-1:B23")
		r := e.submit(t, id, "tok_visa").noErrors(t)
		if dig(r.json, "data", "submitCart", "cart", "stores", 0, "errors", 0, "code") != "INTERNAL_SERVER_ERROR" || dig(r.json, "extensions", "retryable") != true {
			t.Fatalf("%s", r.body)
		}
		if r := e.submit(t, id, "tok_visa").noErrors(t); dig(r.json, "data", "submitCart", "cart", "stores", 0, "status") != "COMPLETED" {
			t.Fatalf("second call: %s", r.body)
		}
	})
	t.Run("unavailable-2 across carts", func(t *testing.T) {
		for i, want := range []string{"PRODUCTS_UNAVAILABLE", "PRODUCTS_UNAVAILABLE", ""} {
			r := e.submit(t, e.create(t, "unavailable-2:B24"), "tok_visa").noErrors(t)
			if got, _ := dig(r.json, "data", "submitCart", "cart", "stores", 0, "errors", 0, "code").(string); got != want {
				t.Fatalf("cart %d: %q, want %q: %s", i+1, got, want, r.body)
			}
		}
	})
	t.Run("multi-store failure is all or nothing", func(t *testing.T) {
		r := e.createItems(t, []string{"B25"}, []string{"unavailable:V1@shop-a.myshopify.com"})
		id := dig(r.json, "data", "createCart", "cart", "id").(string)
		r = e.submit(t, id, "tok_visa").noErrors(t)
		stores := dig(r.json, "data", "submitCart", "cart", "stores").([]any)
		if len(stores) != 2 || dig(stores[0], "status") != "FAILED" || len(dig(stores[0], "errors").([]any)) != 0 ||
			dig(stores[1], "errors", 0, "code") != "PRODUCTS_UNAVAILABLE" || dig(stores[1], "store", "store") != "shop-a.myshopify.com" {
			t.Fatalf("%s", r.body)
		}
	})
}

func TestTransportFaults(t *testing.T) {
	e := newRaw(t, Config{})
	t.Run("timeout-placed: 504 without GraphQL body, yet submitted", func(t *testing.T) {
		id := e.create(t, "timeout-placed:B5")
		r := e.submit(t, id, "tok_visa")
		if r.status != http.StatusGatewayTimeout || json.Valid(r.body) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if en, n := e.entry(t, id); n != 1 || en.OrderRef != "ref-timeout-placed:B5" || !en.Charged {
			t.Fatalf("ledger %+v", e.ledger.Entries())
		}
		r = e.submit(t, id, "tok_visa").noErrors(t)
		if dig(r.json, "data", "submitCart", "errors", 0, "code") != "ALREADY_SUBMITTED" || dig(r.json, "extensions", "retryable") != false {
			t.Fatalf("resubmit: %s", r.body)
		}
	})
	t.Run("timeout-lost: 503, nothing happened", func(t *testing.T) {
		id := e.create(t, "timeout-lost:B6")
		if r := e.submit(t, id, "tok_visa"); r.status != http.StatusServiceUnavailable || json.Valid(r.body) {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if _, n := e.entry(t, id); n != 0 {
			t.Fatal("timeout-lost was recorded")
		}
		if co := dig(e.checkout(t, id).json, "data", "checkoutByCartID"); dig(co, "status") != "PENDING" || len(dig(co, "orders", 0, "events").([]any)) != 0 {
			t.Fatalf("timeout-lost moved the order: %v", co)
		}
		if r := e.submit(t, id, "tok_visa").noErrors(t); dig(r.json, "data", "submitCart", "cart", "stores", 0, "status") != "COMPLETED" {
			t.Fatalf("second call: %s", r.body)
		}
	})
	t.Run("fault and timeout rates", func(t *testing.T) {
		f := newRaw(t, Config{FaultRate: 1})
		id := f.create(t, "B7")
		if r := f.submit(t, id, "tok_visa"); r.status != http.StatusServiceUnavailable || len(f.ledger.Entries()) != 0 {
			t.Fatalf("FaultRate 1: %d", r.status)
		}
		g := newRaw(t, Config{TimeoutRate: 1})
		id = g.create(t, "B8")
		if r := g.submit(t, id, "tok_visa"); r.status != http.StatusGatewayTimeout || len(g.ledger.Entries()) != 1 {
			t.Fatalf("TimeoutRate 1: %d", r.status)
		}
	})
}

func TestCreateCartTriggers(t *testing.T) {
	e := newRaw(t, Config{})
	t.Run("not-found", func(t *testing.T) {
		r := e.createItems(t, []string{"B1", "not-found:B2"}, nil)
		res := dig(r.json, "data", "createCart")
		if dig(res, "errors", 0, "code") != "PRODUCT_NOT_FOUND" || has(r.json, "extensions") || dig(res, "cart", "id") == nil {
			t.Fatalf("want PRODUCT_NOT_FOUND, the cart, no extensions: %s", r.body)
		}
		if lines := dig(res, "cart", "stores", 0, "cartLines").([]any); len(lines) != 1 || dig(lines[0], "product", "id") != "B1" {
			t.Fatalf("the missing product must not be in the cart: %s", r.body)
		}
		r = e.createItems(t, nil, []string{"not-found:V1@shop-a.myshopify.com"})
		if dig(r.json, "data", "createCart", "errors", 0, "code") != "PRODUCT_NOT_FOUND" || len(dig(r.json, "data", "createCart", "cart", "stores").([]any)) != 0 {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("unpriced", func(t *testing.T) {
		r := e.createItems(t, []string{"unpriced:B3"}, nil)
		cart := dig(r.json, "data", "createCart", "cart")
		if !has(cart, "cost") || dig(cart, "cost") != nil {
			t.Fatalf("cost must be null: %s", r.body)
		}
		id := dig(cart, "id").(string)
		e.submit(t, id, "tok_visa").noErrors(t)
		e.waitCheckout(t, id, "SUCCEEDED", statusIs("SUCCEEDED"))
	})
	t.Run("quantity 0", func(t *testing.T) {
		r := e.post(t, nil, createQ, map[string]any{"amazon": []map[string]any{{"productId": "B4", "quantity": 0}}}).noErrors(t)
		if dig(r.json, "data", "createCart", "errors", 0, "code") != "STORE_OPERATION_FAILED" {
			t.Fatalf("%s", r.body)
		}
	})
	t.Run("stores and lines as sent", func(t *testing.T) {
		f := newRaw(t, Config{DefaultShopifyStore: "fallback.myshopify.com"})
		r := f.createItems(t, []string{"oos-once:B5"}, []string{"V9", "oos-once:V1@shop-a.myshopify.com", "V2@shop-a.myshopify.com"})
		stores := dig(r.json, "data", "createCart", "cart", "stores").([]any)
		got := []string{}
		for _, st := range stores {
			var ids []string
			for _, l := range dig(st, "cartLines").([]any) {
				id, _ := dig(l, "product", "id").(string)
				if id == "" {
					id, _ = dig(l, "variant", "id").(string)
				}
				ids = append(ids, id)
			}
			got = append(got, fmt.Sprintf("%s=%v", dig(st, "store"), ids))
		}
		want := "[amazon=[oos-once:B5] fallback.myshopify.com=[V9] shop-a.myshopify.com=[oos-once:V1@shop-a.myshopify.com V2@shop-a.myshopify.com]]"
		if fmt.Sprint(got) != want {
			t.Fatalf("stores %v, want %s", got, want)
		}
	})
}

// TestPlacementTriggers covers the triggers decided during placement, over HTTP.
func TestPlacementTriggers(t *testing.T) {
	e := newRaw(t, Config{})
	placedEvents := "[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderSubmissionSucceededOrderEvent OrderPlacedOrderEvent TrackingObtainedOrderEvent]"
	t.Run("default placed, shipment", func(t *testing.T) {
		id := e.create(t, "B1")
		e.submit(t, id, "tok_visa").noErrors(t)
		co := e.waitCheckout(t, id, "tracked", func(co any) bool { return len(eventTypes(dig(co, "orders", 0))) == 5 })
		o := dig(co, "orders", 0)
		if fmt.Sprint(eventTypes(o)) != placedEvents || dig(co, "status") != "SUCCEEDED" || dig(o, "shipments", 0, "carrierName") != "UPS" ||
			!strings.HasPrefix(dig(o, "shipments", 0, "carrierTrackingUrl").(string), e.url+"/track/") || dig(o, "marketplace") != "AMAZON" {
			t.Fatalf("%v", co)
		}
	})
	t.Run("no token: no payment event", func(t *testing.T) {
		id := e.create(t, "B2")
		e.submit(t, id, "").noErrors(t)
		co := e.waitCheckout(t, id, "tracked", func(co any) bool { return len(dig(co, "orders", 0, "shipments").([]any)) == 1 })
		if got := fmt.Sprint(eventTypes(dig(co, "orders", 0))); strings.Contains(got, "Payment") {
			t.Fatalf("events %s", got)
		}
	})
	failed := func(t *testing.T, product, token, reasonCode string, retryable any, wantEvents string) {
		t.Helper()
		id := e.create(t, product)
		e.submit(t, id, token).noErrors(t)
		co := e.waitCheckout(t, id, "FAILED", statusIs("FAILED"))
		o := dig(co, "orders", 0)
		f := findEvent(o, "OrderFailedOrderEvent")
		if got := fmt.Sprint(eventTypes(o)); got != wantEvents {
			t.Fatalf("events %s, want %s", got, wantEvents)
		}
		if dig(f, "reasonCode") != reasonCode || !has(f, "retryable") || dig(f, "retryable") != retryable || dig(f, "reason") == "" {
			t.Fatalf("failed event %v", f)
		}
		e.waitRefunded(t, id)
	}
	t.Run("tok_insufficient_funds", func(t *testing.T) {
		failed(t, "B3", "tok_insufficient_funds", "INSUFFICIENT_FUNDS", false,
			"[OrderSubmissionStartedOrderEvent PaymentFailedOrderEvent OrderFailedOrderEvent]")
	})
	t.Run("placement-failed", func(t *testing.T) {
		failed(t, "placement-failed:B4", "tok_visa", "MERCHANT_CONFIGURATION", false,
			"[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderFailedOrderEvent PaymentRefundedOrderEvent]")
	})
	t.Run("placement-unknown", func(t *testing.T) {
		failed(t, "placement-unknown:B5", "tok_visa", "INTERNAL_ERROR", nil,
			"[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderFailedOrderEvent PaymentRefundedOrderEvent]")
	})
	t.Run("oos-once", func(t *testing.T) {
		failed(t, "oos-once:B6", "tok_visa", "OUT_OF_STOCK", true,
			"[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderFailedOrderEvent PaymentRefundedOrderEvent]")
		id := e.create(t, "oos-once:B6")
		e.submit(t, id, "tok_visa").noErrors(t)
		e.waitCheckout(t, id, "SUCCEEDED (restocked)", statusIs("SUCCEEDED"))
	})
	t.Run("3ds-fail", func(t *testing.T) {
		f := newRaw(t, Config{PlacementStep: 25 * time.Millisecond})
		id := f.create(t, "3ds-fail:B7")
		f.submit(t, id, "tok_visa").noErrors(t)
		co := f.waitCheckout(t, id, "ACTION_REQUIRED", statusIs("ACTION_REQUIRED"))
		if got := dig(co, "orders", 0, "requiredActions", 0, "redirectURL"); got != f.url+"/3ds/"+dig(co, "orders", 0, "id").(string) {
			t.Fatalf("redirectURL %v", got)
		}
		co = f.waitCheckout(t, id, "FAILED", statusIs("FAILED"))
		o := dig(co, "orders", 0)
		if got := fmt.Sprint(eventTypes(o)); got != "[OrderSubmissionStartedOrderEvent PaymentFailedOrderEvent OrderFailedOrderEvent]" ||
			dig(findEvent(o, "OrderFailedOrderEvent"), "reasonCode") != "PAYMENT_FAILED" || dig(findEvent(o, "OrderFailedOrderEvent"), "retryable") != false ||
			len(dig(o, "requiredActions").([]any)) != 0 {
			t.Fatalf("%v", o)
		}
		f.waitRefunded(t, id)
	})
	t.Run("3ds-pass", func(t *testing.T) {
		f := newRaw(t, Config{PlacementStep: 25 * time.Millisecond})
		id := f.create(t, "3ds-pass:B8")
		f.submit(t, id, "tok_visa").noErrors(t)
		co := f.waitCheckout(t, id, "ACTION_REQUIRED", statusIs("ACTION_REQUIRED"))
		if dig(co, "orders", 0, "status") != "ACTION_REQUIRED" || dig(co, "orders", 0, "requiredActions", 0, "__typename") != "CompletePaymentChallenge" ||
			fmt.Sprint(eventTypes(dig(co, "orders", 0))) != "[OrderSubmissionStartedOrderEvent]" {
			t.Fatalf("%v", co)
		}
		co = f.waitCheckout(t, id, "tracked", func(co any) bool { return len(dig(co, "orders", 0, "shipments").([]any)) == 1 })
		if got := fmt.Sprint(eventTypes(dig(co, "orders", 0))); got != placedEvents || dig(co, "status") != "SUCCEEDED" {
			t.Fatalf("events %s: %v", got, co)
		}
		if en, _ := f.entry(t, id); en.Refunded {
			t.Fatal("3ds-pass refunded")
		}
	})
	t.Run("3ds read late", func(t *testing.T) {
		// A client whose first poll comes long after +5 (a slow or loaded one) still sees the
		// challenge: nobody could answer it before it was shown. Backdating the submission
		// stands in for the slow client.
		for _, tt := range []struct{ trigger, final string }{{"3ds-pass:B14", "SUCCEEDED"}, {"3ds-fail:B15", "FAILED"}} {
			f := newRaw(t, Config{PlacementStep: 25 * time.Millisecond})
			id := f.create(t, tt.trigger)
			f.submit(t, id, "tok_visa").noErrors(t)
			f.srv.mu.Lock()
			f.srv.carts[id].submittedAt = f.srv.carts[id].submittedAt.Add(-100 * f.srv.cfg.PlacementStep)
			f.srv.mu.Unlock()
			co := dig(f.checkout(t, id).json, "data", "checkoutByCartID")
			if dig(co, "status") != "ACTION_REQUIRED" || dig(co, "orders", 0, "requiredActions", 0, "__typename") != "CompletePaymentChallenge" {
				t.Fatalf("%s: first read long after +5: %v", tt.trigger, co)
			}
			if en, _ := f.entry(t, id); en.Refunded {
				t.Fatalf("%s refunded before the challenge was answered", tt.trigger)
			}
			f.waitCheckout(t, id, tt.final, statusIs(tt.final))
			if tt.final == "FAILED" {
				f.waitRefunded(t, id)
			}
		}
	})
	t.Run("3ds-abandon", func(t *testing.T) {
		id := e.create(t, "3ds-abandon:B9")
		e.submit(t, id, "tok_visa").noErrors(t)
		e.waitCheckout(t, id, "ACTION_REQUIRED", statusIs("ACTION_REQUIRED"))
		time.Sleep(10 * 5 * time.Millisecond) // well past +5 steps
		co := e.waitCheckout(t, id, "still ACTION_REQUIRED", statusIs("ACTION_REQUIRED"))
		if len(dig(co, "orders", 0, "requiredActions").([]any)) != 1 || len(eventTypes(dig(co, "orders", 0))) != 1 {
			t.Fatalf("%v", co)
		}
	})
	t.Run("stuck", func(t *testing.T) {
		id := e.create(t, "stuck:B10")
		e.submit(t, id, "tok_visa").noErrors(t)
		time.Sleep(10 * 5 * time.Millisecond)
		co := e.waitCheckout(t, id, "PROCESSING", statusIs("PROCESSING"))
		if fmt.Sprint(eventTypes(dig(co, "orders", 0))) != "[OrderSubmissionStartedOrderEvent]" {
			t.Fatalf("%v", co)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		id := e.create(t, "cancelled:B11")
		e.submit(t, id, "tok_visa").noErrors(t)
		co := e.waitCheckout(t, id, "CANCELLED", statusIs("CANCELLED"))
		o := dig(co, "orders", 0)
		want := "[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderSubmissionSucceededOrderEvent OrderPlacedOrderEvent OrderCancelStartedOrderEvent OrderCancelSucceededOrderEvent PaymentRefundedOrderEvent]"
		if got := fmt.Sprint(eventTypes(o)); got != want || dig(o, "status") != "CANCELLED" {
			t.Fatalf("events %s: %v", got, o)
		}
		e.waitRefunded(t, id)
	})
	t.Run("refund-partial", func(t *testing.T) {
		id := e.create(t, "refund-partial:B12")
		e.submit(t, id, "tok_visa").noErrors(t)
		co := e.waitCheckout(t, id, "refund created", func(co any) bool { return findEvent(dig(co, "orders", 0), "RefundCreatedOrderEvent") != nil })
		o := dig(co, "orders", 0)
		amount := dig(findEvent(o, "RefundCreatedOrderEvent"), "amount")
		if dig(o, "status") != "SUCCEEDED" || dig(amount, "value") != float64(priceCents("refund-partial:B12")/2) || dig(amount, "currency") != "USD" ||
			findEvent(o, "PaymentRefundedOrderEvent") != nil {
			t.Fatalf("%v", o)
		}
		if en, _ := e.entry(t, id); en.Refunded {
			t.Fatal("a partial refund marked the cart refunded")
		}
	})
	t.Run("mixed cart", func(t *testing.T) {
		r := e.createItems(t, []string{"B13"}, []string{"placement-failed:V1@shop-a.myshopify.com"})
		id := dig(r.json, "data", "createCart", "cart", "id").(string)
		e.submit(t, id, "tok_visa").noErrors(t)
		co := e.waitCheckout(t, id, "PARTIALLY_SUCCEEDED", statusIs("PARTIALLY_SUCCEEDED"))
		if dig(co, "orders", 0, "status") != "SUCCEEDED" || dig(co, "orders", 1, "status") != "FAILED" || dig(co, "orders", 1, "marketplace") != "SHOPIFY" {
			t.Fatalf("%v", co)
		}
		if en, _ := e.entry(t, id); en.Refunded {
			t.Fatal("a partly placed cart was refunded")
		}
	})
}

// TestTimelines checks every outcome's order state at exact instants of the placement clock.
func TestTimelines(t *testing.T) {
	step := time.Second
	t0 := time.Unix(1_700_000_000, 0)
	type point struct {
		k         int // steps after submission
		status    string
		events    int
		challenge bool
	}
	for _, tt := range []struct {
		sc      scenario
		token   string
		shown   int // step of the first read that showed the 3-D Secure challenge, 0 = none yet
		points  []point
		refunds int // step of the ledger refund, 0 = kept (or not decided)
	}{
		{scenarioNone, "tok", 0, []point{{0, "PENDING", 0, false}, {1, "PROCESSING", 1, false}, {2, "PROCESSING", 3, false}, {3, "SUCCEEDED", 4, false}, {4, "SUCCEEDED", 5, false}}, 0},
		{scenario3DSPass, "tok", 1, []point{{1, "ACTION_REQUIRED", 1, true}, {4, "ACTION_REQUIRED", 1, true}, {5, "PROCESSING", 3, false}, {6, "SUCCEEDED", 4, false}, {7, "SUCCEEDED", 5, false}}, 0},
		// Shown late: answered one step after the first read, whatever the clock says.
		{scenario3DSPass, "tok", 8, []point{{8, "ACTION_REQUIRED", 1, true}, {9, "PROCESSING", 3, false}, {10, "SUCCEEDED", 4, false}, {11, "SUCCEEDED", 5, false}}, 0},
		// Never shown: nobody could answer it.
		{scenario3DSPass, "tok", 0, []point{{1, "ACTION_REQUIRED", 1, true}, {1000, "ACTION_REQUIRED", 1, true}}, 0},
		{scenario3DSFail, "tok", 1, []point{{1, "ACTION_REQUIRED", 1, true}, {5, "FAILED", 3, false}}, 5},
		{scenario3DSFail, "tok", 8, []point{{8, "ACTION_REQUIRED", 1, true}, {9, "FAILED", 3, false}}, 9},
		{scenario3DSFail, "tok", 0, []point{{1000, "ACTION_REQUIRED", 1, true}}, 0},
		{scenario3DSAbandon, "tok", 1, []point{{1, "ACTION_REQUIRED", 1, true}, {1000, "ACTION_REQUIRED", 1, true}}, 0},
		{scenarioCancelled, "tok", 0, []point{{3, "SUCCEEDED", 4, false}, {4, "CANCELLATION_IN_PROGRESS", 5, false}, {5, "CANCELLED", 7, false}}, 5},
		{scenarioCancelled, "", 0, []point{{5, "CANCELLED", 5, false}}, 5},
		{scenarioRefundPartial, "tok", 0, []point{{3, "SUCCEEDED", 4, false}, {4, "SUCCEEDED", 6, false}}, 0},
		{scenarioPlacementFailed, "tok", 0, []point{{2, "PROCESSING", 2, false}, {3, "FAILED", 4, false}}, 3},
		{scenarioStuck, "tok", 0, []point{{1000, "PROCESSING", 1, false}}, 0},
	} {
		t.Run(fmt.Sprintf("%s/%s/shown+%d", tt.sc, tt.token, tt.shown), func(t *testing.T) {
			s := &Server{restocked: map[string]bool{}}
			st := &store{market: marketplaceAmazon, name: storeAmazon, orderID: "order_1", scenario: tt.sc,
				lines: []line{{productID: "x", quantity: 1, priceCents: 1000}}}
			if tt.shown > 0 {
				st.challengeShown = t0.Add(time.Duration(tt.shown) * step)
			}
			c := &cart{id: "cart_1", stores: []*store{st}, submitted: true, submittedAt: t0, charged: tt.token != ""}
			st.outcome = s.placementOutcome(st, tt.token)
			for _, p := range tt.points {
				got := c.stateAt(st, step, t0.Add(time.Duration(p.k)*step))
				if got.status != p.status || len(got.events) != p.events || got.challenge != p.challenge {
					t.Errorf("+%d: status %s, %d events, challenge %v; want %+v", p.k, got.status, len(got.events), got.challenge, p)
				}
			}
			end := c.plan(st, step).endAt
			if (tt.refunds == 0) != end.IsZero() || (tt.refunds != 0 && !end.Equal(t0.Add(time.Duration(tt.refunds)*step))) {
				t.Errorf("refund at %v, want step %d", end, tt.refunds)
			}
		})
	}
}

func TestCheckoutStatus(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, "PENDING"},
		{[]string{"PENDING", "PENDING"}, "PENDING"},
		{[]string{"PENDING", "PROCESSING"}, "PROCESSING"},
		{[]string{"SUCCEEDED", "PENDING"}, "PROCESSING"},
		{[]string{"SUCCEEDED", "ACTION_REQUIRED"}, "ACTION_REQUIRED"},
		{[]string{"SUCCEEDED", "CANCELLATION_IN_PROGRESS"}, "CANCELLATION_IN_PROGRESS"},
		{[]string{"SUCCEEDED", "SUCCEEDED"}, "SUCCEEDED"},
		{[]string{"FAILED", "FAILED"}, "FAILED"},
		{[]string{"CANCELLED"}, "CANCELLED"},
		{[]string{"SUCCEEDED", "FAILED"}, "PARTIALLY_SUCCEEDED"},
		{[]string{"SUCCEEDED", "CANCELLED"}, "MIXED"},
	} {
		if got := checkoutStatus(tt.in); got != tt.want {
			t.Errorf("checkoutStatus(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
