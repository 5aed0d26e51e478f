package digitalriver

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/orderflow/orderflow/provider"
)

// TestOrderDecoding reads orders in the documented shape: payment.charges, items with amount and
// quantity (no price), productDetails items, and every documented order state.
func TestOrderDecoding(t *testing.T) {
	raw := `{"id":"o1","checkoutId":"c1","state":"%s","payment":{"charges":[{"id":"ch1","amount":30.0,"state":"capturable"}],
		"session":{"state":"complete"}},"items":[{"id":"i1","skuId":"SKU1","productDetails":{"id":"SKU1","name":"Widget"},"amount":20.0,"quantity":2},
		{"id":"i2","productDetails":{"id":"kb-1","skuGroupId":"g","name":"Keyboard"},"amount":10.0,"quantity":3},
		{"id":"i3","skuId":"SKU3","amount":5.0,"quantity":1,"price":5.0}],"createdTime":"2024-01-02T03:04:05Z"}`
	for state, want := range map[string]provider.Phase{
		"pending_payment": provider.PhaseStarted, "in_review": provider.PhaseStarted, "accepted": provider.PhasePlaced,
		"fulfilled": provider.PhasePlaced, "complete": provider.PhasePlaced, "returned": provider.PhasePlaced,
		"dispute": provider.PhasePlaced, "blocked": provider.PhaseFailed, "cancelled": provider.PhaseFailed,
	} {
		var o order
		if err := json.Unmarshal(fmt.Appendf(nil, raw, state), &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Payment.Charges) != 1 || o.Payment.Charges[0].Amount != 3000 {
			t.Fatalf("charges %+v", o.Payment.Charges)
		}
		p := placementOf("c1", []order{o})
		op := p.Orders[0]
		if op.Phase() != want {
			t.Errorf("state %s: phase %v, want %v", state, op.Phase(), want)
		}
		wantItems := []provider.Item{
			{Merchant: Name, ProductID: "SKU1", Quantity: 2, PriceCents: 1000},
			{Merchant: Name, ProductID: "kb-1", Name: "Keyboard", SKUGroupID: "g", Quantity: 3, PriceCents: 0}, // 10.00 / 3 does not divide
			{Merchant: Name, ProductID: "SKU3", Quantity: 1, PriceCents: 500},
		}
		for i, it := range op.Items {
			if it != wantItems[i] {
				t.Fatalf("item %d = %+v, want %+v", i, it, wantItems[i])
			}
		}
	}
}
