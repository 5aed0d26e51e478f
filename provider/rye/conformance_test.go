package rye_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providertest"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// TestConformance runs the provider contract against the Rye client and sandbox.
func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		APIKey: testKey,
		New: func(t *testing.T, env providertest.Env) (provider.Provider, *ledger.Ledger) {
			cfg := ryefake.Config{APIKey: testKey, PlacementStep: testStep, StrictRPS: ryefake.Unlimited, DefaultRPS: ryefake.Unlimited}
			if env.RateLimited {
				cfg.StrictRPS = ryefake.RealStrictRPS
			}
			sb, err := sandbox.New(sandbox.Config{Rye: cfg})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sb)
			t.Cleanup(func() { srv.Close(); _ = sb.Close() })
			c, err := rye.New(rye.Config{BaseURL: srv.URL + sandbox.RyePrefix, APIKey: testKey,
				HTTPClient: &http.Client{Transport: env.Wrap(http.DefaultTransport)}})
			if err != nil {
				t.Fatal(err)
			}
			return c, sb.Ledger()
		},
		Order: func(s providertest.Scenario, n int) (providertest.Order, bool) {
			token, action := "tok_visa_conformance", provider.ActionNone
			prefix := map[providertest.Scenario]string{
				providertest.RefusedRetryable:   "unavailable:",
				providertest.RefusedUnknown:     "unknown-error:",
				providertest.TimeoutAfterSubmit: "timeout-placed:",
				providertest.PlacementFailed:    "placement-failed:",
			}[s]
			if s == providertest.RefusedNotRetryable {
				token, action = "tok_declined", provider.ActionNewPaymentMethod
			}
			b := buyer()
			return providertest.Order{
				Cart:       cartReq(fmt.Sprintf("conf-%d/1", n), amazon(fmt.Sprintf("%sB0CF%06d", prefix, n)), shop("shop-c.myshopify.com", fmt.Sprintf("%s%d@shop-c.myshopify.com", prefix, 44454219700000+n))),
				Submit:     provider.SubmitRequest{ShopperIP: shopperIP, PaymentRef: token, Billing: &b},
				WantAction: action,
			}, true
		},
	})
}
