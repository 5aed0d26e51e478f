package processor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

const (
	url1 = "https://pay.example/3ds/challenge-1"
	url2 = "https://pay.example/3ds/challenge-2"
)

// A challenge is announced once per redirect URL, with the URL; the wait starts when first
// seen and is kept in the tracking record; the stuck clock neither runs during the wait nor
// counts it afterwards; the order is placed once the customer completed the challenge.
func TestActionRequiredThenPlaced(t *testing.T) {
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) {
		switch {
		case e < 2*time.Second:
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: started()}), nil
		case e < 30*time.Second: // well past StuckAfter (10s) and NeverStartedAfter (5s)
			return one(challenge("amazon", "ord-1", url1)), nil
		case e < 40*time.Second: // a new challenge
			return one(challenge("amazon", "ord-1", url2)), nil
		case e < 48*time.Second: // completed: only SubmissionStarted again, for less than StuckAfter
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Status: "PROCESSING", Events: started()}), nil
		}
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Status: "SUCCEEDED", Events: placedEvents()}), nil
	}, nil)
	h.run(testRequest("3ds-pass"), 10*time.Minute)

	want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/action_required", "1/amazon/placed", "1//placed"}
	if got := h.states(); !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	ar := h.byState(StatusActionRequired)
	if ar[0].RedirectURL != url1 || ar[1].RedirectURL != url2 || ar[0].EventID == ar[1].EventID || ar[0].Terminal || ar[0].Message == "" {
		t.Fatalf("action_required events %+v: want one per URL, with the URL and a message, not terminal", ar)
	}
	if len(h.prov.submits) != 1 || len(h.failures) != 0 {
		t.Fatalf("%d submits and failures %+v: want one submit and no failure", len(h.prov.submits), h.failures)
	}
	// The wait's start is kept across polls: every record after the first sight has the same Since.
	var since time.Time
	for _, tr := range h.tracking {
		for _, w := range tr.ActionWaits {
			if since.IsZero() {
				since = w.Since
			}
			if !w.Since.Equal(since) || w.Merchant != "amazon" || w.MerchantOrderID != "ord-1" {
				t.Fatalf("tracking record wait %+v: want amazon/ord-1 since %v", w, since)
			}
		}
	}
	if since.IsZero() {
		t.Fatal("no tracking record carried the wait")
	}
}

// A challenge the customer fails ends on the ordinary failure path (PAYMENT_FAILED,
// retryable false: a new payment method).
func TestActionRequiredThenFailed(t *testing.T) {
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) {
		if e < 20*time.Second {
			return one(challenge("amazon", "ord-1", url1)), nil
		}
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Status: "FAILED", Events: failedEvents("PAYMENT_FAILED", false)}), nil
	}, nil)
	h.run(testRequest("3ds-fail"), 10*time.Minute)

	want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/failed", "1/amazon/dead_lettered"}
	if got := h.states(); !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	if len(h.dead) != 1 || h.dead[0].Action != string(provider.ActionNewPaymentMethod) || h.dead[0].Code != "PAYMENT_FAILED" {
		t.Fatalf("dead letters %+v: want one, new-payment-method", h.dead)
	}
}

// The customer never completes the challenge: at the deadline (ActionTimeout after it was
// first seen) the merchant order fails with class action-timeout and is dead-lettered with
// complete-payment-challenge, never replaced; the stored outcome holds that failure (the
// replay tool asks the provider before replaying it).
func TestActionTimeoutDeadLetters(t *testing.T) {
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) {
		if e < 3*time.Second {
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: started()}), nil
		}
		return one(challenge("amazon", "ord-1", url1)), nil
	}, nil)
	req := testRequest("3ds-abandon")
	h.run(req, time.Hour)

	want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/failed", "1/amazon/dead_lettered"}
	if got := h.states(); !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	first := h.byState(StatusActionRequired)[0].At
	failed := h.byState(StatusFailed)[0]
	if d := failed.At.Sub(first); d < h.cfg.ActionTimeout || d > h.cfg.ActionTimeout+2*h.cfg.PollInterval {
		t.Fatalf("failed %v after the challenge was first seen, want at the %v deadline", d, h.cfg.ActionTimeout)
	}
	if failed.Code != ClassActionTimeout {
		t.Fatalf("failed status code %q, want %q", failed.Code, ClassActionTimeout)
	}
	if len(h.failures) != 1 || h.failures[0].Class != ClassActionTimeout || h.failures[0].Action != string(provider.ActionCompletePaymentChallenge) ||
		h.failures[0].Phase != PhasePlacement || h.failures[0].Merchant != "amazon" || len(h.failures[0].FailedItems) != 1 {
		t.Fatalf("failures %+v: want one action-timeout placement failure of amazon's item", h.failures)
	}
	dl := h.byState(StatusDeadLettered)[0]
	if !dl.Terminal || dl.Action != string(provider.ActionCompletePaymentChallenge) {
		t.Fatalf("dead_lettered %+v: want terminal with complete-payment-challenge", dl)
	}
	if len(h.dead) != 1 || h.dead[0].Rule != "action-timeout-dead-letter" || h.dead[0].Action != string(provider.ActionCompletePaymentChallenge) {
		t.Fatalf("dead letters %+v: want one by action-timeout-dead-letter", h.dead)
	}
	if len(h.prov.submits) != 1 || len(h.prov.carts) != 1 {
		t.Fatalf("%d carts, %d submits: never replaced or resubmitted", len(h.prov.carts), len(h.prov.submits))
	}
	v, err := ViewAttempt(context.Background(), h.cfg.Store, req.OrderID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Stage() != StageEnded || !v.ActionTimedOut() {
		t.Fatalf("stored attempt %+v: want ended with ActionTimedOut", v)
	}
}

// While the customer has the cart, neither the never-started nor the stuck clock fires, and a
// placement that can not be read for a while is no reason to escalate.
func TestNoStuckClocksWhileWaiting(t *testing.T) {
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) {
		switch {
		case e < time.Second:
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1"}), nil
		case e < 20*time.Second: // no events at all, only the status: the adapter lists the challenge it implies, without a URL
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Status: "ACTION_REQUIRED",
				RequiredActions: []provider.RequiredAction{{Kind: "CompletePaymentChallenge", Action: provider.ActionCompletePaymentChallenge}}}), nil
		case e < 45*time.Second: // unreadable for longer than twice StuckAfter
			return provider.Placement{}, &provider.Error{Class: provider.ClassRetryable, Op: "checkoutByCartID", Code: "UPSTREAM", HTTPStatus: 502}
		case e < 50*time.Second:
			return one(challenge("amazon", "ord-1", url1)), nil
		}
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Status: "SUCCEEDED", Events: placedEvents()}), nil
	}, nil)
	h.run(testRequest("3ds-slow"), 10*time.Minute)

	want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1/amazon/action_required", "1/amazon/action_required", "1/amazon/placed", "1//placed"}
	if got := h.states(); !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	if ar := h.byState(StatusActionRequired); ar[0].RedirectURL != "" || ar[1].RedirectURL != url1 {
		t.Fatalf("action_required %+v: first without a URL, then with it", ar)
	}
	if len(h.prov.submits) != 1 {
		t.Fatalf("%d submits: resubmitted while waiting for the customer", len(h.prov.submits))
	}
}

// Two merchant orders: one placed, one waiting until its deadline. Only the waiting one is
// dead-lettered, with its own item; the placed one stays placed.
func TestActionTimeoutOneOfTwoMerchants(t *testing.T) {
	items := []schemas.Item{
		{Merchant: "amazon", ProductID: "B0TWO00001", Quantity: 1, PriceCents: 1999},
		{Merchant: "shop-a.myshopify.com", ProductID: "4711@shop-a.myshopify.com", Quantity: 2, PriceCents: 1250},
	}
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) {
		shop := challenge("shop-a.myshopify.com", "ord-2", url1)
		shop.Items = []provider.Item{{ProductID: "4711@shop-a.myshopify.com", Quantity: 2}}
		return provider.Placement{Orders: []provider.OrderPlacement{
			{Merchant: "amazon", OrderID: "ord-1", Status: "SUCCEEDED", Events: placedEvents()}, shop}}, nil
	}, nil)
	h.prov.orders = []provider.MerchantOrder{{Merchant: "amazon", OrderID: "ord-1"}, {Merchant: "shop-a.myshopify.com", OrderID: "ord-2"}}
	h.run(testRequest("3ds-two", items...), time.Hour)

	want := []string{"1//cart_created", "1//submitted", "1/amazon/submitted", "1/shop-a.myshopify.com/submitted",
		"1/shop-a.myshopify.com/action_required", "1/amazon/placed", "1/shop-a.myshopify.com/failed", "1/shop-a.myshopify.com/dead_lettered"}
	if got := h.states(); !slices.Equal(got, want) {
		t.Fatalf("statuses\n got %v\nwant %v", got, want)
	}
	if f := h.failures; len(f) != 1 || len(f[0].FailedItems) != 1 || f[0].FailedItems[0].ProductID != items[1].ProductID {
		t.Fatalf("failures %+v: want shop-a's item only", f)
	}
}

// The worker passes the shopper IP to CreateCart and the billing address to Submit; the
// tracker's never-started resubmit passes the billing address too.
func TestBillingAndShopperIPReachTheProvider(t *testing.T) {
	h := newHarness(t, func(e time.Duration) (provider.Placement, error) {
		if e < 6*time.Second { // never started: resubmitted after NeverStartedAfter (5s)
			return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1"}), nil
		}
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: placedEvents()}), nil
	}, nil)
	req := testRequest("billing-1")
	req.Billing = &schemas.Buyer{FirstName: "Charles", LastName: "Babbage", Address1: "2 Bill St", City: "London", PostalCode: "N1", CountryCode: "GB"}
	h.run(req, 10*time.Minute)

	if len(h.prov.carts) != 1 || h.prov.carts[0].ShopperIP != req.ShopperIP {
		t.Fatalf("carts %+v: want one with the shopper IP", h.prov.carts)
	}
	if len(h.prov.submits) != 2 {
		t.Fatalf("%d submits, want the submit and one never-started resubmit", len(h.prov.submits))
	}
	for i, s := range h.prov.submits {
		if s.Billing == nil || s.Billing.CountryCode != "GB" || s.Billing.LastName != "Babbage" || s.ShopperIP != req.ShopperIP {
			t.Fatalf("submit %d: %+v, want the billing address and shopper IP", i, s)
		}
	}

	h2 := newHarness(t, func(time.Duration) (provider.Placement, error) {
		return one(provider.OrderPlacement{Merchant: "amazon", OrderID: "ord-1", Events: placedEvents()}), nil
	}, nil)
	req2 := testRequest("billing-2")
	h2.run(req2, time.Minute)
	if len(h2.prov.submits) != 1 || h2.prov.submits[0].Billing == nil || h2.prov.submits[0].Billing.PostalCode != req2.Buyer.PostalCode ||
		h2.prov.submits[0].Billing.LastName != req2.Buyer.LastName {
		t.Fatalf("submits %+v: want the buyer's address as billing address when the request has none", h2.prov.submits)
	}
}

func TestValidateBilling(t *testing.T) {
	req := testRequest("v")
	if err := Validate(req); err != nil {
		t.Fatalf("without billing: %v", err)
	}
	req.Billing = &schemas.Buyer{City: "London"}
	if err := Validate(req); err == nil {
		t.Fatal("billing without a country code was accepted")
	}
	req.Billing.CountryCode = "GB"
	if err := Validate(req); err != nil {
		t.Fatalf("billing with a country code: %v", err)
	}
}

func TestItemsOf(t *testing.T) {
	amz := schemas.Item{Merchant: "amazon", ProductID: "B0A", Quantity: 1}
	amz2 := schemas.Item{Merchant: "amazon", ProductID: "B0B", Quantity: 1}
	shop := schemas.Item{Merchant: "shop-a.myshopify.com", ProductID: "V1@shop-a.myshopify.com", Quantity: 2}
	shopB := schemas.Item{Merchant: "shop-b.myshopify.com", ProductID: "V2@shop-b.myshopify.com", Quantity: 1}
	reported := func(ids ...string) []provider.Item {
		var out []provider.Item
		for _, id := range ids {
			out = append(out, provider.Item{ProductID: id, Quantity: 1})
		}
		return out
	}
	all := []schemas.Item{amz, amz2, shop, shopB}
	for _, tc := range []struct {
		name   string
		items  []schemas.Item
		orders []provider.OrderPlacement
		i      int
		want   []schemas.Item
	}{
		{"reported items, no merchant (real Rye)", all, []provider.OrderPlacement{{Items: reported("B0B")}, {Items: reported("V1@shop-a.myshopify.com")}}, 0, []schemas.Item{amz2}},
		{"reported items win over the merchant", all, []provider.OrderPlacement{{Merchant: "amazon", Items: reported("B0A")}, {Merchant: "shop-a.myshopify.com"}}, 0, []schemas.Item{amz}},
		{"reported items unknown to the request: merchant", all, []provider.OrderPlacement{{Merchant: "shop-a.myshopify.com", Items: reported("other")}, {Merchant: "amazon"}}, 0, []schemas.Item{shop}},
		{"merchant", all, []provider.OrderPlacement{{Merchant: "amazon"}, {Merchant: "shop-a.myshopify.com"}}, 0, []schemas.Item{amz, amz2}},
		{"single order, nothing identified", all, []provider.OrderPlacement{{}}, 0, all},
		{"single order, another merchant's name", []schemas.Item{amz}, []provider.OrderPlacement{{Merchant: "Amazon.com"}}, 0, []schemas.Item{amz}},
		{"unidentified order of a larger cart: what others do not claim", all, []provider.OrderPlacement{{Merchant: "amazon"}, {OrderID: "x"}, {Items: reported("V2@shop-b.myshopify.com")}}, 1, []schemas.Item{shop}},
		{"unidentified order, everything claimed: all", []schemas.Item{amz, shop}, []provider.OrderPlacement{{Merchant: "amazon"}, {Merchant: "shop-a.myshopify.com"}, {}}, 2, []schemas.Item{amz, shop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := itemsOf(tc.items, tc.orders, tc.i); !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Fingerprints of requests that use none of the fields added since (item name and SKU group,
// billing) are what the first version computed: attempts in flight across an upgrade are not
// refused as conflicts.
func TestFingerprintStableAcrossNewFields(t *testing.T) {
	req := testRequest("fp")
	req.Items = append(req.Items, schemas.Item{Merchant: "shop-a.myshopify.com", ProductID: "V1@shop-a.myshopify.com", Quantity: 2, PriceCents: 1250})
	old := legacyFingerprint(req)
	if got := Fingerprint(req); got != old {
		t.Fatalf("fingerprint %s, the first version's %s", got, old)
	}
	req.Billing = &schemas.Buyer{CountryCode: "GB"}
	if Fingerprint(req) == old {
		t.Fatal("billing is not part of the fingerprint")
	}
	req.Billing = nil
	req.Items[0].SKUGroupID = "g"
	if Fingerprint(req) == old {
		t.Fatal("the SKU group is not part of the fingerprint")
	}
}

// legacyFingerprint is Fingerprint as first written, when Item had four fields and the
// request no billing address.
func legacyFingerprint(o schemas.OrderRequested) string {
	type item struct {
		Merchant   string
		ProductID  string
		Quantity   int
		PriceCents int64
	}
	var items []item
	for _, it := range o.Items {
		items = append(items, item{it.Merchant, it.ProductID, it.Quantity, it.PriceCents})
	}
	b, _ := json.Marshal(struct {
		P string
		B schemas.Buyer
		I []item
		C string
		R string
		S string
	}{o.Provider, o.Buyer, items, o.Currency, o.PaymentRef, o.ShopperIP})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
