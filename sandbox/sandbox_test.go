package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

func TestSandboxRoutes(t *testing.T) {
	// Unlimited strict tier: the test creates and submits within a second (real Rye: 1/s).
	sb, err := sandbox.New(sandbox.Config{Rye: ryefake.Config{APIKey: "k", PlacementStep: 5 * time.Millisecond, StrictRPS: ryefake.Unlimited}})
	if err != nil {
		t.Fatal(err)
	}
	url, shutdown, err := sb.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := shutdown(ctx); err != nil { // idempotent
			t.Errorf("second shutdown: %v", err)
		}
	}()

	// Rye is mounted at /rye: create and submit a cart through the real HTTP path.
	post := func(query string) map[string]any {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"query": query})
		req, _ := http.NewRequest(http.MethodPost, url+sandbox.RyePrefix+ryefake.QueryPath, bytes.NewReader(b))
		req.Header.Set("Authorization", "Basic k")
		req.Header.Set(ryefake.HeaderShopperIP, "203.0.113.1")
		req.Header.Set(ryefake.HeaderOrderRef, "order-1/1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil || out["errors"] != nil {
			t.Fatalf("POST %s: %d %v", query, resp.StatusCode, out)
		}
		return out
	}
	created := post(`mutation { createCart(input: {items: {amazonCartItemsInput: [{productId: "B1", quantity: 2}]}, buyerIdentity: {countryCode: US}}) { cart { id } errors { code } } }`)
	id := created["data"].(map[string]any)["createCart"].(map[string]any)["cart"].(map[string]any)["id"].(string)
	post(`mutation { submitCart(input: {id: "` + id + `", token: "tok_visa"}) { cart { id } errors { code } } }`)

	resp, err := http.Get(url + sandbox.LedgerPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Entries []ledger.Entry }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || got.Entries[0].CartID != id || got.Entries[0].OrderRef != "order-1/1" || !got.Entries[0].Charged {
		t.Fatalf("GET /ledger = %+v", got.Entries)
	}
	if sb.Ledger().Entries()[0].CartID != id {
		t.Fatal("Ledger() is not the served ledger")
	}
}

func TestSandboxNotFound(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	for _, path := range []string{"/", "/rye", "/nope/v1/query"} {
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		if rec.Code < 300 { // 404, or ServeMux's redirect of "/rye" to "/rye/"
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
}

func TestSandboxConfigValidate(t *testing.T) {
	if _, err := sandbox.New(sandbox.Config{Rye: ryefake.Config{FaultRate: 2}}); err == nil {
		t.Fatal("invalid rye config accepted")
	}
}
