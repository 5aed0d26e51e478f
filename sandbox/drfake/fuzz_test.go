package drfake_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ledger"
)

// FuzzCheckoutsAndOrders posts arbitrary bodies to POST /checkouts, then to POST /checkouts/{id}
// and POST /orders of the created checkout: the sandbox must answer only documented statuses, and
// every error in Digital River's exact shape.
func FuzzCheckoutsAndOrders(f *testing.F) {
	for _, s := range []string{
		`{"items":[{"skuId":"SKU1","quantity":1,"price":10.5}],"sourceId":"src_1"}`,
		`{"items":[{"skuId":"bad-tax:SKU1","quantity":2,"price":1}],"sourceId":"src_declined","currency":"EUR"}`,
		`{"items":[{"skuId":"a","quantity":1,"price":0}]}`,
		`{"items":[{"skuId":"a","quantity":1,"price":1e3}],"shipTo":{"address":{"country":"US"}},"metadata":{"a":[1]}}`,
		`{"items":[{"skuId":"a","quantity":1,"price":1e999}]}`,
		`{"items":null}`, `[]`, `{`, ``, `{"items":[{"skuId":"a","quantity":1,"price":"1"}]}`,
	} {
		f.Add([]byte(s))
	}
	l := ledger.New()
	h, err := drfake.NewHandler(drfake.Config{APIKey: "k"}, l)
	if err != nil {
		f.Fatal(err)
	}
	send := func(t *testing.T, path string, body []byte) (int, map[string]any) {
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("POST %s: answer %q is not a JSON object", path, rec.Body)
		}
		if rec.Code >= 300 {
			errs, ok := out["errors"].([]any)
			if _, typed := out["type"].(string); !typed || !ok || len(errs) != 1 || len(out) != 2 {
				t.Fatalf("POST %s: error body %v not in Digital River's shape", path, out)
			}
		}
		return rec.Code, out
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, out := send(t, "/checkouts", body)
		if code != http.StatusCreated {
			if code != http.StatusBadRequest {
				t.Fatalf("POST /checkouts answered %d: %v", code, out)
			}
			return
		}
		id, _ := out["id"].(string)
		if code, out := send(t, "/checkouts/"+id, body); code != http.StatusOK && code != http.StatusBadRequest {
			t.Fatalf("POST /checkouts/{id} answered %d: %v", code, out)
		}
		before := len(l.Entries())
		code, out = send(t, "/orders", []byte(`{"checkoutId":"`+id+`"}`))
		switch code {
		case http.StatusCreated, http.StatusGatewayTimeout:
			if len(l.Entries()) != before+1 {
				t.Fatalf("order %d without a ledger entry", code)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusInternalServerError:
			if len(l.Entries()) != before {
				t.Fatalf("failed order %d recorded in the ledger", code)
			}
		default:
			t.Fatalf("POST /orders answered %d: %v", code, out)
		}
	})
}
