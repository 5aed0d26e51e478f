package rye_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
	"github.com/orderflow/orderflow/provider/rye/ryeschema"
)

func realSchema(t *testing.T) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "ryeschema/schema.graphql", Input: ryeschema.SDL})
	if err != nil {
		t.Fatalf("loading the real Rye schema: %v", err)
	}
	return s
}

// TestOperationsValidateAgainstRealSchema: every operation the client sends validates against
// the real Rye schema (not against the sandbox), so the client can never drift from it again.
func TestOperationsValidateAgainstRealSchema(t *testing.T) {
	schema := realSchema(t)
	src, err := os.ReadFile("operations.graphql")
	if err != nil {
		t.Fatal(err)
	}
	doc, errs := gqlparser.LoadQuery(schema, string(src))
	if len(errs) > 0 {
		t.Fatalf("operations.graphql does not validate against the real schema:\n%v", errs)
	}
	var names []string
	for _, op := range doc.Operations {
		names = append(names, op.Name)
	}
	if got := strings.Join(names, ","); got != "CreateCart,SubmitCart,CheckoutByCartID" {
		t.Fatalf("operations = %s", got)
	}
}

// TestSentRequestsValidateAgainstRealSchema drives the client and validates every request it
// puts on the wire, query and variables, against the real schema: the variables check is what
// catches an input field Rye does not have or a required one left out.
func TestSentRequestsValidateAgainstRealSchema(t *testing.T) {
	schema := realSchema(t)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Query         string         `json:"query"`
			OperationName string         `json:"operationName"`
			Variables     map[string]any `json:"variables"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body: %v", err)
		}
		doc, errs := gqlparser.LoadQuery(schema, req.Query)
		if len(errs) > 0 {
			t.Errorf("%s: query does not validate: %v", req.OperationName, errs)
		} else if _, err := validator.VariableValues(schema, doc.Operations.ForName(req.OperationName), req.Variables); err != nil {
			t.Errorf("%s: variables %s do not validate: %v", req.OperationName, body, err)
		}
		mu.Lock()
		seen = append(seen, req.OperationName+" "+string(mustJSON(req.Variables)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":null,"errors":[{"message":"test server","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}))
	defer srv.Close()
	c, err := rye.New(rye.Config{BaseURL: srv.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	full := buyer()
	partial := provider.Buyer{CountryCode: "US", PostalCode: "94105"}
	_, _ = c.CreateCart(ctx, cartReq("o/1", amazon("B000000001"), provider.Item{Merchant: "shop-a.myshopify.com", ProductID: "44454219743530", Quantity: 1}))
	_, _ = c.CreateCart(ctx, provider.CartRequest{Items: []provider.Item{amazon("B000000002")}})
	_, _ = c.Submit(ctx, provider.SubmitRequest{CartID: "cart-1", ShopperIP: shopperIP, PaymentRef: "tok_visa", Billing: &full})
	_, _ = c.Submit(ctx, provider.SubmitRequest{CartID: "cart-2", ShopperIP: shopperIP, Billing: &partial})
	_, _ = c.Status(ctx, "cart-1")

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 {
		t.Fatalf("requests = %d: %v", len(seen), seen)
	}
	all := strings.Join(seen, "\n")
	for _, want := range []string{
		`"variantId":"44454219743530"`, // the plain Shopify variant id, never "<store>/<variant>"
		`"productId":"B000000001"`,
		`"billingAddress":{"address1":"1 Main St"`,
		`"token":"tok_visa"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no request carries %s:\n%s", want, all)
		}
	}
	if strings.Contains(seen[3], "token") || strings.Contains(seen[3], "billingAddress") {
		t.Errorf("a submit without payment method and with an incomplete billing address sent %s", seen[3])
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
