package rye_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// Example places an order at the Rye sandbox: create a cart, submit it, poll until placed.
func Example() {
	sb, _ := sandbox.New(sandbox.Config{Rye: ryefake.Config{APIKey: "key", PlacementStep: 5 * time.Millisecond, StrictRPS: ryefake.Unlimited, DefaultRPS: ryefake.Unlimited}})
	defer sb.Close()
	srv := httptest.NewServer(sb)
	defer srv.Close()

	client, _ := rye.New(rye.Config{BaseURL: srv.URL + sandbox.RyePrefix, APIKey: "key"})
	ctx := context.Background()
	cart, _ := client.CreateCart(ctx, provider.CartRequest{
		OrderRef: "order-42/1",
		Buyer:    provider.Buyer{Email: "ada@example.com", CountryCode: "US"},
		Items:    []provider.Item{{Merchant: "amazon", ProductID: "B0EXAMPLE", Quantity: 1}},
	})
	if _, err := client.Submit(ctx, provider.SubmitRequest{CartID: cart.ID, ShopperIP: "203.0.113.7", PaymentRef: "tok_visa"}); err != nil {
		fmt.Println(provider.ClassOf(err))
		return
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p, err := client.Status(ctx, cart.ID)
		if err == nil && p.Orders[0].Phase() == provider.PhasePlaced {
			fmt.Println(p.Orders[0].Merchant, p.Orders[0].Phase())
			break
		}
	}
	fmt.Println(len(sb.Ledger().Entries()), "ledger entry")
	// Output:
	// amazon placed
	// 1 ledger entry
}
