package drfake_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

// The sandbox mounted under /dr: a checkout, the payment session gate, an order, the ledger.
func ExampleNewHandler() {
	l := ledger.New()
	h, err := drfake.NewHandler(drfake.Config{APIKey: "sk_test"}, l)
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dr/", http.StripPrefix("/dr", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(path, body string) string {
		req, _ := http.NewRequest("POST", srv.URL+"/dr"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk_test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	// Ids are random; the example creates a checkout whose id it can pick out of the answer.
	created := post("/checkouts", `{"items":[{"skuId":"SKU1","quantity":2,"price":12.50}],"upstreamId":"order-1/1"}`)
	id := created[strings.Index(created, `"id":"`)+6:]
	id = id[:strings.Index(id, `"`)]

	fmt.Println(post("/orders", `{"checkoutId":"`+id+`"}`))
	post("/checkouts/"+id+"/sources/src_card", "")
	order := post("/orders", `{"checkoutId":"`+id+`"}`)
	fmt.Println(order[:3], strings.Contains(order, `"state":"pending_payment"`))
	fmt.Println(post("/orders", `{"checkoutId":"`+id+`"}`)[:3])
	e := l.Entries()[0]
	fmt.Println(len(l.Entries()), e.CartID == id, e.OrderRef, e.AmountCents, e.Currency, e.Charged)
	// Output:
	// 400 {"type":"bad_request","errors":[{"code":"order_submit_failed","message":"Payment session status is invalid."}]}
	// 201 true
	// 404
	// 1 true order-1/1 2500 USD true
}
