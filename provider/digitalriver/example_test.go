package digitalriver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

// A 409 on POST /orders asks for a new checkout with a new payment source; the declined checkout
// is never resubmitted.
func Example() {
	l := ledger.New()
	h, _ := drfake.NewHandler(drfake.Config{APIKey: "sk_test"}, l)
	srv := httptest.NewServer(http.StripPrefix("/dr", h))
	defer srv.Close()
	dr, _ := digitalriver.New(digitalriver.Config{BaseURL: srv.URL + "/dr", APIKey: "sk_test"})

	ctx := context.Background()
	req := provider.CartRequest{
		OrderRef: "order-1/1", Currency: "USD", PaymentRef: "src_declined",
		Buyer: provider.Buyer{Email: "ada@example.com", CountryCode: "US"},
		Items: []provider.Item{{ProductID: "SKU1", Quantity: 2, PriceCents: 1250}},
	}
	cart, _ := dr.CreateCart(ctx, req)
	_, err := dr.Submit(ctx, provider.SubmitRequest{CartID: cart.ID})
	var pe *provider.Error
	if errors.As(err, &pe) {
		fmt.Println(pe.Class, pe.Action, pe.Code)
	}

	req.PaymentRef = "src_new_card"
	cart, _ = dr.CreateCart(ctx, req)
	sub, _ := dr.Submit(ctx, provider.SubmitRequest{CartID: cart.ID})
	fmt.Println(sub.Orders[0].Merchant, sub.Orders[0].Status, len(l.Entries()), l.Entries()[0].AmountCents)
	// Output:
	// not-retryable new-checkout conflict/failed-request
	// digitalriver pending_payment 1 2500
}
