package rye

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"sync"
)

// exchange is one HTTP round trip as the transport saw it: the per-call headers to add on the
// way out, and on the way back what classification needs (status, headers, whether request
// bytes left the process, the GraphQL top-level extensions).
type exchange struct {
	op        string
	shopperIP string // Rye-Shopper-IP, submitCart only
	orderRef  string // Orderflow-Order-Ref, createCart only

	mu         sync.Mutex
	wrote      bool // some of the request was written to a connection
	responded  bool // a response (any status) arrived
	status     int
	header     http.Header
	extensions map[string]any
}

type exchangeKey struct{}

func withExchange(ctx context.Context, ex *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, ex)
}

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

func (ex *exchange) markWrote() {
	ex.mu.Lock()
	ex.wrote = true
	ex.mu.Unlock()
}

// snapshot returns the fields classification reads, under the lock.
func (ex *exchange) snapshot() (wrote, responded bool, status int, header http.Header, ext map[string]any) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.wrote, ex.responded, ex.status, ex.header, ex.extensions
}

// transport authenticates every request and records the exchange for classification.
// It never logs or stores the API key anywhere but the outgoing header.
type transport struct {
	base   http.RoundTripper
	apiKey string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchangeFrom(req.Context())
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Basic "+t.apiKey)
	if ex != nil {
		if ex.shopperIP != "" {
			req.Header.Set(headerShopperIP, ex.shopperIP)
		}
		if ex.orderRef != "" {
			req.Header.Set(headerOrderRef, ex.orderRef)
		}
		trace := &httptrace.ClientTrace{
			WroteHeaderField: func(string, []string) { ex.markWrote() },
			WroteHeaders:     ex.markWrote,
			WroteRequest:     func(httptrace.WroteRequestInfo) { ex.markWrote() },
		}
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	}
	resp, err := t.base.RoundTrip(req)
	if ex != nil && resp != nil {
		ex.mu.Lock()
		ex.responded, ex.status, ex.header = true, resp.StatusCode, resp.Header.Clone()
		ex.mu.Unlock()
	}
	return resp, err
}
