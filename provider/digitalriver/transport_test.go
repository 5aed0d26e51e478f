package digitalriver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
)

// TestSubmitTransport covers the answers the sandbox does not produce: a connection cut after
// POST /orders was sent, an unreadable 201, and a provider that is not listening at all.
func TestSubmitTransport(t *testing.T) {
	const readyCheckout = `{"id":"chk_1","payment":{"session":{"state":"requires_confirmation","amountContributed":1,"amountRemainingToBeContributed":0}}}`
	tests := []struct {
		name   string
		orders http.HandlerFunc // POST /orders; nil: the server is not listening
		class  provider.Class
		code   string
	}{
		{"connection cut after sending", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, provider.ClassOutcomeUnknown, "network"},
		{"unreadable 201", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id": 12`)
		}, provider.ClassOutcomeUnknown, "decode_response"},
		{"not listening", nil, provider.ClassRetryable, "network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /checkouts/chk_1", func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, readyCheckout)
			})
			if tt.orders != nil {
				mux.HandleFunc("POST /orders", tt.orders)
			}
			srv := httptest.NewServer(mux)
			if tt.orders == nil {
				srv.Close()
			} else {
				defer srv.Close()
			}
			c, err := digitalriver.New(digitalriver.Config{BaseURL: srv.URL, APIKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Submit(context.Background(), provider.SubmitRequest{CartID: "chk_1"})
			pe := asProviderError(t, err)
			if pe == nil || pe.Class != tt.class || pe.Code != tt.code {
				t.Fatalf("Submit error %+v, want %v %q", pe, tt.class, tt.code)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  digitalriver.Config
		ok   bool
	}{
		{"ok", digitalriver.Config{BaseURL: "https://api.digitalriver.com", APIKey: "sk"}, true},
		{"prefix with slash", digitalriver.Config{BaseURL: "http://127.0.0.1:8080/dr/", APIKey: "sk"}, true},
		{"no key", digitalriver.Config{BaseURL: "https://api.digitalriver.com"}, false},
		{"key with newline", digitalriver.Config{BaseURL: "https://api.digitalriver.com", APIKey: "sk\nX: y"}, false},
		{"no url", digitalriver.Config{APIKey: "sk"}, false},
		{"relative url", digitalriver.Config{BaseURL: "/dr", APIKey: "sk"}, false},
		{"ftp", digitalriver.Config{BaseURL: "ftp://h", APIKey: "sk"}, false},
		{"query", digitalriver.Config{BaseURL: "https://h/?a=b", APIKey: "sk"}, false},
		{"credentials", digitalriver.Config{BaseURL: "https://u:p@h", APIKey: "sk"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			c, err := digitalriver.New(tt.cfg)
			if (err == nil) != tt.ok || (c == nil) == tt.ok {
				t.Fatalf("New() = %v, %v; want ok=%v", c, err, tt.ok)
			}
		})
	}
}
