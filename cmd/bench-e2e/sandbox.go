package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/sandbox"
)

// request is one request the sandbox answered, as its server saw it.
type request struct {
	at     time.Time
	op     string // Rye: the GraphQL operation (CreateCart, SubmitCart, CheckoutByCartID); else METHOD /path
	status int
}

// counting serves the sandbox and counts, at the server, every request (with its operation and
// status) and every new TCP connection (http.Server.ConnState StateNew): what the clients
// really cost the provider, whatever their transports do.
type counting struct {
	sb       *sandbox.Sandbox
	srv      *http.Server
	url      string
	newConns atomic.Int64

	mu   sync.Mutex
	reqs []request
}

func serveCounting(sb *sandbox.Sandbox) (*counting, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &counting{sb: sb, url: "http://" + ln.Addr().String()}
	c.srv = &http.Server{Handler: http.HandlerFunc(c.serve), ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				c.newConns.Add(1)
			}
		}}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func (c *counting) serve(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	c.sb.ServeHTTP(sw, r)
	c.mu.Lock()
	c.reqs = append(c.reqs, request{at: time.Now(), op: op, status: sw.status})
	c.mu.Unlock()
}

// counts is a snapshot: requests so far and new connections so far.
type counts struct {
	reqs     []request
	newConns int64
}

func (c *counting) snapshot() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return counts{reqs: append([]request(nil), c.reqs...), newConns: c.newConns.Load()}
}

// since is what happened after an earlier snapshot.
func (n counts) since(before counts) counts {
	return counts{reqs: n.reqs[len(before.reqs):], newConns: n.newConns - before.newConns}
}

func (n counts) byOp() map[string]int {
	out := map[string]int{}
	for _, r := range n.reqs {
		out[r.op]++
	}
	return out
}

func (n counts) withStatus(code int) int {
	k := 0
	for _, r := range n.reqs {
		if r.status == code {
			k++
		}
	}
	return k
}

func (c *counting) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	_ = c.sb.Close()
}

// operation names the request: Rye's GraphQL operationName (or the first root field it knows),
// Digital River's method and first path segment.
func operation(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, sandbox.RyePrefix+"/") && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		if err != nil {
			return "rye ?"
		}
		var gql struct {
			OperationName string `json:"operationName"`
			Query         string `json:"query"`
		}
		if json.Unmarshal(body, &gql) == nil {
			if gql.OperationName != "" {
				return gql.OperationName
			}
			for _, f := range []string{"createCart", "submitCart", "checkoutByCartID"} {
				if strings.Contains(gql.Query, f) {
					return f
				}
			}
		}
		return "rye ?"
	}
	segs := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(segs) >= 2 {
		return r.Method + " /" + segs[0] + "/" + segs[1]
	}
	return r.Method + " " + r.URL.Path
}

// strictOps are the Rye operations of its strict rate-limit tier.
var strictOps = map[string]bool{"CreateCart": true, "SubmitCart": true, "createCart": true, "submitCart": true}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
