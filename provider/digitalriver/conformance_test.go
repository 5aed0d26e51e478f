package digitalriver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/provider/providertest"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

const conformanceKey = "sk_test_conformance_5d1e"

// TestConformance runs the provider contract against the Digital River client and sandbox.
// Digital River has no answer that refuses a POST /orders as retryable or of unknown
// retryability (a 5xx after POST /orders is an unknown outcome; 429 is rate limiting), so those
// two rows are skipped.
func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		APIKey: conformanceKey,
		New: func(t *testing.T, env providertest.Env) (provider.Provider, *ledger.Ledger) {
			cfg := drfake.Config{APIKey: conformanceKey, PlacementStep: 5 * time.Millisecond}
			if env.RateLimited {
				cfg.RPS, cfg.Burst = 1, 1
			}
			sb, err := sandbox.New(sandbox.Config{DigitalRiver: cfg})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sb)
			t.Cleanup(func() { srv.Close(); _ = sb.Close() })
			c, err := digitalriver.New(digitalriver.Config{BaseURL: srv.URL + sandbox.DigitalRiverPrefix, APIKey: conformanceKey,
				HTTPClient: &http.Client{Transport: env.Wrap(http.DefaultTransport)}})
			if err != nil {
				t.Fatal(err)
			}
			return c, sb.Ledger()
		},
		Order: func(s providertest.Scenario, n int) (providertest.Order, bool) {
			source, prefix, action := "src_visa_conformance", "", provider.ActionNone
			switch s {
			case providertest.RefusedRetryable, providertest.RefusedUnknown:
				return providertest.Order{}, false
			case providertest.RefusedNotRetryable:
				source, action = "src_declined_conformance", provider.ActionNewCheckout
			case providertest.TimeoutAfterSubmit:
				prefix = "timeout-created:"
			case providertest.PlacementFailed:
				prefix = "fraud-blocked:"
			}
			req := provider.CartRequest{
				OrderRef: fmt.Sprintf("conf-%d/1", n), Currency: "USD", PaymentRef: source, ShopperIP: "203.0.113.9",
				Buyer: provider.Buyer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Address1: "1 Main St",
					City: "Springfield", ProvinceCode: "IL", PostalCode: "62701", CountryCode: "US"},
				Items: []provider.Item{{Merchant: "digitalriver", ProductID: fmt.Sprintf("%sSKU-CF-%06d", prefix, n), Quantity: 1, PriceCents: 2500}},
			}
			return providertest.Order{Cart: req, Submit: provider.SubmitRequest{ShopperIP: "203.0.113.9", PaymentRef: source}, WantAction: action}, true
		},
	})
}
