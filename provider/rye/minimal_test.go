package rye_test

import (
	"context"
	"testing"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// TestMinimalFlow is the end-to-end slice: create, submit, poll; a declined token; oos-once.
func TestMinimalFlow(t *testing.T) {
	e := newEnv(t, ryefake.Config{})
	ctx := context.Background()

	t.Run("ok", func(t *testing.T) {
		cart := e.createCart(t, cartReq("o-ok/1", amazon("B00OK"), shop("shop-a.myshopify.com", "V1")))
		if len(cart.Merchants) != 2 || cart.TotalCents <= 0 || cart.Currency != "USD" {
			t.Fatalf("cart = %+v", cart)
		}
		p, err := e.client.Status(ctx, cart.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Orders {
			if o.Status != "PENDING" || len(o.Events) != 0 {
				t.Fatalf("before submit: order %+v", o)
			}
		}
		sub, err := e.submit(cart.ID, "tok_visa")
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		if len(sub.Orders) != 2 {
			t.Fatalf("submission = %+v", sub)
		}
		p = e.waitPlacement(t, cart.ID, terminal)
		for _, o := range p.Orders {
			if o.Phase() != provider.PhasePlaced {
				t.Fatalf("order %s phase %v, events %+v", o.OrderID, o.Phase(), o.Events)
			}
		}
		entries := e.sb.Ledger().Entries()
		if len(entries) != 1 || entries[0].CartID != cart.ID || entries[0].OrderRef != "o-ok/1" || !entries[0].Charged || entries[0].AmountCents != cart.TotalCents {
			t.Fatalf("ledger = %+v", entries)
		}
	})

	t.Run("tok_declined", func(t *testing.T) {
		cart := e.createCart(t, cartReq("o-declined/1", amazon("B00DECL")))
		_, err := e.submit(cart.ID, "tok_declined")
		pe := asProviderError(t, err)
		if pe.Class != provider.ClassNotRetryable || pe.Code != "PAYMENT_FAILED" || pe.Retryable == nil || *pe.Retryable || pe.Action != provider.ActionNewPaymentMethod {
			t.Fatalf("error = %+v", pe)
		}
		for _, en := range e.sb.Ledger().Entries() {
			if en.CartID == cart.ID {
				t.Fatalf("declined cart in ledger: %+v", en)
			}
		}
	})

	t.Run("oos-once", func(t *testing.T) {
		cart := e.createCart(t, cartReq("o-oos/1", amazon("oos-once:B00MIN")))
		if _, err := e.submit(cart.ID, "tok_visa"); err != nil {
			t.Fatalf("Submit: %v", err)
		}
		p := e.waitPlacement(t, cart.ID, terminal)
		f, ok := p.Orders[0].Failure()
		if !ok || f.ReasonCode != "OUT_OF_STOCK" || f.Retryable == nil || !*f.Retryable {
			t.Fatalf("failure = %+v (ok %v)", f, ok)
		}
	})
}
