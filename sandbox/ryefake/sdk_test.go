package ryefake

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Operations shaped like the ones Rye's public SDK sends (rye-com/rye-sdk src/gql, SDK-ops):
// named operations with typed variables, stores selected through inline fragments on the
// Store union, cart lines through product/variant, events through __typename and fragments.
// Written for this test, not copied from the SDK.
const (
	sdkCreateCart = `
fragment MoneyFields on Price { value currency displayValue }

mutation CreateCart($input: CartCreateInput!) {
  createCart(input: $input) {
    cart {
      id
      createdAt
      buyerIdentity { firstName lastName email countryCode postalCode }
      cost { isEstimated subtotal { ...MoneyFields } total { ...MoneyFields } shipping { value } tax { value } margin { value } }
      stores {
        __typename
        ... on AmazonStore {
          store requestId orderId isSubmitted isShippingRequired
          errors { code message details { productIds } }
          offer { subtotal { value } selectedShippingMethod { id label total { value } } shippingMethods { id } }
          cartLines { quantity product { id title ASIN price { value currency } url images { url } } }
        }
        ... on ShopifyStore {
          store requestId orderId isSubmitted
          errors { code message details { variantIds } }
          offer { subtotal { value } }
          cartLines { quantity variant { id title priceCents image { url ... on ShopifyImage { id } } } }
        }
      }
    }
    errors { code message }
  }
}`

	sdkSubmitCart = `
mutation SubmitCart($input: CartSubmitInput!) {
  submitCart(input: $input) {
    cart {
      id
      stores {
        status requestId orderId isSubmitted
        store {
          ... on AmazonStore { store cartLines { quantity product { id } } }
          ... on ShopifyStore { store cartLines { quantity variant { id } } }
        }
        errors { code message }
      }
    }
    errors { code message }
  }
}`

	sdkCheckout = `
query CheckoutByCartID($id: ID!) {
  checkoutByCartID(cartID: $id) {
    status
    orders {
      id status cartId marketplace marketplaceOrderIds createdAt
      events {
        __typename id createdAt
        ... on OrderFailedOrderEvent { reason reasonCode retryable }
        ... on RefundCreatedOrderEvent { amount { value } }
      }
      requiredActions { ... on CompletePaymentChallenge { redirectURL } }
      shipments { carrierName carrierTrackingNumber }
    }
    cart {
      id
      stores {
        ... on AmazonStore { store orderId requestId cartLines { quantity product { id } } }
        ... on ShopifyStore { store orderId requestId cartLines { quantity variant { id } } }
      }
    }
  }
}`
)

func TestSDKStyleOperations(t *testing.T) {
	e := newRaw(t, Config{})
	in := map[string]any{
		"items": map[string]any{
			"amazonCartItemsInput":  []any{map[string]any{"productId": "B0SDK0001", "quantity": 2}},
			"shopifyCartItemsInput": []any{map[string]any{"variantId": "44454219743530", "quantity": 1}, map[string]any{"variantId": "V7@shop-a.myshopify.com", "quantity": 3}},
		},
		"buyerIdentity": defaultBuyer,
	}
	r := e.post(t, nil, sdkCreateCart, map[string]any{"input": in}).noErrors(t)
	if has(r.json, "extensions") {
		t.Fatalf("createCart must carry no extensions: %s", r.body)
	}
	cart := dig(r.json, "data", "createCart", "cart")
	id, _ := dig(cart, "id").(string)
	if id == "" || len(dig(r.json, "data", "createCart", "errors").([]any)) != 0 {
		t.Fatalf("createCart: %s", r.body)
	}
	wantTotal := 2*priceCents("B0SDK0001") + priceCents("44454219743530") + 3*priceCents("V7@shop-a.myshopify.com")
	if dig(cart, "cost", "total", "value") != float64(wantTotal) || dig(cart, "cost", "total", "currency") != "USD" ||
		dig(cart, "cost", "total", "displayValue") != displayUSD(wantTotal) || dig(cart, "cost", "isEstimated") != false {
		t.Fatalf("cost: %v", dig(cart, "cost"))
	}
	stores := dig(cart, "stores").([]any)
	if len(stores) != 3 {
		t.Fatalf("want 3 stores (amazon, default shopify store, shop-a): %s", r.body)
	}
	type storeWant struct{ typename, store, lineID, lineField string }
	wants := []storeWant{
		{"AmazonStore", "amazon", "B0SDK0001", "product"},
		{"ShopifyStore", DefaultShopifyStore, "44454219743530", "variant"},
		{"ShopifyStore", "shop-a.myshopify.com", "V7@shop-a.myshopify.com", "variant"},
	}
	orderIDs := map[string]string{} // store -> order id
	for i, w := range wants {
		st := stores[i]
		if dig(st, "__typename") != w.typename || dig(st, "store") != w.store || dig(st, "isSubmitted") != false ||
			dig(st, "cartLines", 0, w.lineField, "id") != w.lineID {
			t.Fatalf("store %d: %v, want %+v", i, st, w)
		}
		oid, _ := dig(st, "orderId").(string)
		if oid == "" || dig(st, "requestId") != oid || dig(st, "offer", "subtotal", "value") == nil {
			t.Fatalf("store %d: orderId %q requestId %v offer %v", i, oid, dig(st, "requestId"), dig(st, "offer"))
		}
		orderIDs[w.store] = oid
	}
	if dig(stores[0], "cartLines", 0, "product", "ASIN") != "B0SDK0001" || dig(stores[0], "cartLines", 0, "quantity") != float64(2) ||
		!strings.HasPrefix(dig(stores[0], "cartLines", 0, "product", "url").(string), e.url+"/") {
		t.Fatalf("amazon line: %v", dig(stores[0], "cartLines", 0))
	}
	if dig(stores[2], "cartLines", 0, "variant", "priceCents") != float64(priceCents("V7@shop-a.myshopify.com")) ||
		dig(stores[2], "cartLines", 0, "variant", "image", "id") == nil {
		t.Fatalf("shopify line: %v", dig(stores[2], "cartLines", 0))
	}

	// Before submission: one PENDING order per store, no events.
	r = e.post(t, nil, sdkCheckout, map[string]any{"id": id}).noErrors(t)
	co := dig(r.json, "data", "checkoutByCartID")
	if dig(co, "status") != "PENDING" || len(dig(co, "orders").([]any)) != 3 {
		t.Fatalf("before submit: %s", r.body)
	}
	for i, o := range dig(co, "orders").([]any) {
		if dig(o, "status") != "PENDING" || len(dig(o, "events").([]any)) != 0 || dig(o, "id") != orderIDs[wants[i].store] ||
			dig(o, "cartId") != id || dig(o, "marketplace") != map[bool]string{true: "AMAZON", false: "SHOPIFY"}[i == 0] {
			t.Fatalf("order %d before submit: %v", i, o)
		}
	}

	billing := map[string]any{"firstName": "Ada", "lastName": "Lovelace", "address1": "1 Main St", "city": "New York",
		"provinceCode": "NY", "postalCode": "10001", "countryCode": "US"}
	r = e.post(t, map[string]string{HeaderShopperIP: "203.0.113.7"}, sdkSubmitCart,
		map[string]any{"input": map[string]any{"id": id, "token": "tok_visa", "billingAddress": billing}}).noErrors(t)
	if has(r.json, "extensions") || len(dig(r.json, "data", "submitCart", "errors").([]any)) != 0 {
		t.Fatalf("submitCart: %s", r.body)
	}
	for i, st := range dig(r.json, "data", "submitCart", "cart", "stores").([]any) {
		w := wants[i]
		if dig(st, "status") != "COMPLETED" || dig(st, "isSubmitted") != true || dig(st, "orderId") != orderIDs[w.store] ||
			dig(st, "requestId") != orderIDs[w.store] || dig(st, "store", "store") != w.store ||
			dig(st, "store", "cartLines", 0, w.lineField, "id") != w.lineID || len(dig(st, "errors").([]any)) != 0 {
			t.Fatalf("submit store %d: %v", i, st)
		}
	}
	if en, n := e.entry(t, id); n != 1 || !en.Charged || en.AmountCents != wantTotal || len(en.Orders) != 3 {
		t.Fatalf("ledger: %+v", e.ledger.Entries())
	}

	co = e.waitCheckoutQ(t, sdkCheckout, id, func(co any) bool {
		return dig(co, "status") == "SUCCEEDED" && len(dig(co, "orders", 0, "shipments").([]any)) == 1 &&
			len(dig(co, "orders", 2, "shipments").([]any)) == 1
	})
	for i, o := range dig(co, "orders").([]any) {
		got := fmt.Sprint(eventTypes(o))
		want := "[OrderSubmissionStartedOrderEvent PaymentSucceededOrderEvent OrderSubmissionSucceededOrderEvent OrderPlacedOrderEvent TrackingObtainedOrderEvent]"
		if got != want || dig(o, "status") != "SUCCEEDED" || len(dig(o, "requiredActions").([]any)) != 0 ||
			dig(o, "shipments", 0, "carrierName") != "UPS" || dig(o, "shipments", 0, "carrierTrackingNumber") == "" ||
			len(dig(o, "marketplaceOrderIds").([]any)) != 1 {
			t.Fatalf("order %d: events %s: %v", i, got, o)
		}
		if _, err := time.Parse(time.RFC3339Nano, dig(o, "events", 0, "createdAt").(string)); err != nil {
			t.Fatalf("createdAt: %v", err)
		}
	}
	for i, st := range dig(co, "cart", "stores").([]any) {
		if dig(st, "orderId") != dig(co, "orders", i, "id") || dig(st, "requestId") != dig(st, "orderId") || dig(st, "store") != wants[i].store {
			t.Fatalf("cart store %d: %v", i, st)
		}
	}

	// orderByID and getCart answer the same model.
	r = e.post(t, nil, `query Order($id: ID!) { orderByID(id: $id) { id status cart { id } marketplace } }`,
		map[string]any{"id": orderIDs["amazon"]}).noErrors(t)
	if dig(r.json, "data", "orderByID", "status") != "SUCCEEDED" || dig(r.json, "data", "orderByID", "cart", "id") != id {
		t.Fatalf("orderByID: %s", r.body)
	}
	r = e.post(t, nil, `query Cart($id: ID!) { getCart(id: $id) { cart { id isShippingRequired stores { ... on AmazonStore { isSubmitted } } } errors { code } } }`,
		map[string]any{"id": id}).noErrors(t)
	if dig(r.json, "data", "getCart", "cart", "stores", 0, "isSubmitted") != true {
		t.Fatalf("getCart: %s", r.body)
	}
}

func (e *rawEnv) waitCheckoutQ(t *testing.T, query, cartID string, ok func(any) bool) any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := e.post(t, nil, query, map[string]any{"id": cartID}).noErrors(t)
		co := dig(r.json, "data", "checkoutByCartID")
		if ok(co) {
			return co
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout never reached the state: %s", r.body)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestInputValidation: the schema validates billingAddress and the Country enum (inline enum
// literals as in the DOCS examples).
func TestInputValidation(t *testing.T) {
	e := newRaw(t, Config{})
	r := e.post(t, nil, `mutation { createCart(input: {items: {amazonCartItemsInput: [{productId: "B1", quantity: 1}]},
		buyerIdentity: {countryCode: US, postalCode: "10001"}}) { cart { id buyerIdentity { countryCode } } errors { code } } }`, nil).noErrors(t)
	id := dig(r.json, "data", "createCart", "cart", "id").(string)
	if dig(r.json, "data", "createCart", "cart", "buyerIdentity", "countryCode") != "US" {
		t.Fatalf("%s", r.body)
	}
	for name, billing := range map[string]map[string]any{
		"missing lastName": {"firstName": "A", "address1": "x", "city": "y", "postalCode": "1", "countryCode": "US"},
		"unknown country":  {"firstName": "A", "lastName": "B", "address1": "x", "city": "y", "postalCode": "1", "countryCode": "QQ"},
	} {
		r := e.post(t, map[string]string{HeaderShopperIP: "203.0.113.7"}, sdkSubmitCart,
			map[string]any{"input": map[string]any{"id": id, "billingAddress": billing}})
		if r.json["errors"] == nil || dig(r.json, "data") != nil {
			t.Fatalf("%s: want a validation error: %s", name, r.body)
		}
	}
	if _, n := e.entry(t, id); n != 0 {
		t.Fatal("an invalid submission took effect")
	}
	r = e.post(t, nil, `mutation { createCart(input: {items: {}, buyerIdentity: {countryCode: "US"}}) { cart { id } } }`, nil)
	if r.json["errors"] == nil {
		t.Fatalf("a string is not a Country enum value: %s", r.body)
	}
	// Invented fields of the old sandbox schema are gone.
	for _, q := range []string{
		`query($id: ID!) { checkoutByCartID(cartID: $id) { orders { store } } }`,
		`query($id: ID!) { checkoutByCartID(cartID: $id) { orders { events { ... on TrackingObtainedOrderEvent { trackingNumber } } } } }`,
		`query($id: ID!) { checkoutByCartID(cartID: $id) { orders { events { ... on PaymentSucceededOrderEvent { amount { value } } } } } }`,
		`query($id: ID!) { checkoutByCartID(cartID: $id) { cartId } }`,
	} {
		if r := e.post(t, nil, q, map[string]any{"id": id}); r.json["errors"] == nil {
			t.Errorf("invented field accepted: %s", q)
		}
	}
}
