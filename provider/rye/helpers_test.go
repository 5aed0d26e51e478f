package rye_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

const (
	testKey   = "rye-test-key-3f9c2a"
	shopperIP = "203.0.113.7"
	testStep  = 10 * time.Millisecond
)

// env is a sandbox served over httptest and a client pointed at it.
type env struct {
	sb     *sandbox.Sandbox
	url    string
	client *rye.Client
}

func newEnv(t *testing.T, cfg ryefake.Config) *env {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	if cfg.PlacementStep == 0 {
		cfg.PlacementStep = testStep
	}
	if cfg.StrictRPS == 0 {
		cfg.StrictRPS = ryefake.Unlimited // these tests are not about Rye's real 1/s strict tier
	}
	if cfg.DefaultRPS == 0 {
		cfg.DefaultRPS = ryefake.Unlimited // nor about the 100/s default tier their polling may exceed
	}
	sb, err := sandbox.New(sandbox.Config{Rye: cfg})
	if err != nil {
		t.Fatalf("sandbox.New: %v", err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); _ = sb.Close() })
	c, err := rye.New(rye.Config{BaseURL: srv.URL + sandbox.RyePrefix, APIKey: cfg.APIKey})
	if err != nil {
		t.Fatalf("rye.New: %v", err)
	}
	return &env{sb: sb, url: srv.URL, client: c}
}

func buyer() provider.Buyer {
	return provider.Buyer{
		FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: "+15555550100",
		Address1: "1 Main St", City: "Springfield", ProvinceCode: "IL", PostalCode: "62701", CountryCode: "US",
	}
}

func cartReq(ref string, items ...provider.Item) provider.CartRequest {
	return provider.CartRequest{OrderRef: ref, Buyer: buyer(), Items: items, Currency: "USD"}
}

func amazon(id string) provider.Item {
	return provider.Item{Merchant: "amazon", ProductID: id, Quantity: 1}
}

// shop is a Shopify item of store merchant. The client sends ProductID verbatim as the plain
// variant id; the sandbox's trigger "<variant>@<store>" tells it which store sells the variant
// (real Rye resolves the store itself).
func shop(merchant, id string) provider.Item {
	if !strings.Contains(id, "@") {
		id += "@" + merchant
	}
	return provider.Item{Merchant: merchant, ProductID: id, Quantity: 1}
}

func (e *env) createCart(t *testing.T, req provider.CartRequest) provider.Cart {
	t.Helper()
	c, err := e.client.CreateCart(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateCart: %v", err)
	}
	return c
}

func (e *env) submit(cartID, token string) (provider.Submission, error) {
	return e.client.Submit(context.Background(), provider.SubmitRequest{CartID: cartID, ShopperIP: shopperIP, PaymentRef: token})
}

// waitSettled polls Status until every order is placed or failed, or stays exactly in
// phase want... for `settle` polls past the placement clock. It fails the test at the deadline.
func (e *env) waitPlacement(t *testing.T, cartID string, done func(provider.Placement) bool) provider.Placement {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := e.client.Status(context.Background(), cartID)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if done(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("placement of %s did not settle: %+v", cartID, p)
		}
		time.Sleep(testStep / 2) // poll interval, not a wait for a condition
	}
}

// terminal reports whether every order is placed or failed.
func terminal(p provider.Placement) bool {
	if len(p.Orders) == 0 {
		return false
	}
	for _, o := range p.Orders {
		if ph := o.Phase(); ph != provider.PhasePlaced && ph != provider.PhaseFailed {
			return false
		}
	}
	return true
}

func asProviderError(t *testing.T, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	return pe
}
