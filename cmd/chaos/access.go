package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// accessLog wraps the in-process sandbox and writes one line per provider request, with the
// order ref ("order-id/attempt") it belongs to, so a violation can be traced through the
// provider calls: createCart/POST /checkouts carry the ref, later calls name the cart or
// checkout, which is mapped back to it.
type accessLog struct {
	next http.Handler
	mu   sync.Mutex
	w    *bufio.Writer
	f    *os.File
	refs map[string]string // cart or checkout id -> order ref
}

var (
	reCartID     = regexp.MustCompile(`cart_[0-9a-z]{8,}`)
	reCheckoutID = regexp.MustCompile(`chk_[0-9a-z]{8,}`)
	reUpstream   = regexp.MustCompile(`"upstreamId"\s*:\s*"([^"]+)"`)
	reCode       = regexp.MustCompile(`"(?:code|reasonCode)"\s*:\s*"([A-Za-z_-]+)"`)
	reRetryable  = regexp.MustCompile(`"retryable"\s*:\s*(true|false|null)`)
)

func newAccessLog(path string, next http.Handler) (*accessLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &accessLog{next: next, f: f, w: bufio.NewWriterSize(f, 1<<16), refs: map[string]string{}}, nil
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.body.Len() < 8<<10 {
		r.body.Write(b[:min(len(b), 8<<10-r.body.Len())])
	}
	return r.ResponseWriter.Write(b)
}

func (l *accessLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/ledger") {
		l.next.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	l.next.ServeHTTP(rec, r)

	op := r.Method + " " + r.URL.Path
	var gql struct {
		OperationName string `json:"operationName"`
	}
	if json.Unmarshal(body, &gql) == nil && gql.OperationName != "" {
		op = gql.OperationName
	}
	ids := append(reCartID.FindAllString(string(body)+" "+r.URL.RawQuery, -1), reCheckoutID.FindAllString(string(body)+" "+r.URL.RawQuery, -1)...)
	ref := r.Header.Get("Orderflow-Order-Ref")
	if m := reUpstream.FindSubmatch(body); ref == "" && m != nil {
		ref = string(m[1])
	}
	resp := rec.body.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	if ref == "" {
		for _, id := range ids {
			if ref = l.refs[id]; ref != "" {
				break
			}
		}
	}
	if ref != "" {
		for _, id := range append(reCartID.FindAllString(resp, 1), reCheckoutID.FindAllString(resp, 1)...) {
			l.refs[id] = ref
		}
	}
	var codes []string
	for _, m := range reCode.FindAllStringSubmatch(resp, 4) {
		codes = append(codes, m[1])
	}
	var retryable []string
	for _, m := range reRetryable.FindAllStringSubmatch(resp, 2) {
		retryable = append(retryable, m[1])
	}
	fmt.Fprintf(l.w, "%s ref=%s op=%q status=%d took=%s ids=%v codes=%v retryable=%v\n",
		start.UTC().Format("2006-01-02T15:04:05.000Z"), ref, op, rec.status, time.Since(start).Round(time.Millisecond),
		compactIDs(ids), codes, retryable)
}

func compactIDs(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (l *accessLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (l *accessLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.w.Flush()
}
