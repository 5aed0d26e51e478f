package digitalriver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/provider"
)

func TestClassify(t *testing.T) {
	body := func(typ, code string) []byte {
		return fmt.Appendf(nil, `{"type":%q,"errors":[{"code":%q,"parameter":"p","message":"m"}]}`, typ, code)
	}
	tests := []struct {
		name   string
		kind   opKind
		status int
		body   []byte
		class  provider.Class
		action provider.Action
		code   string
	}{
		{"submit 409", kindSubmit, 409, body("conflict", "failed-request"), provider.ClassNotRetryable, provider.ActionNewCheckout, "conflict/failed-request"},
		{"submit 400", kindSubmit, 400, body("bad_request", "order_create_failed"), provider.ClassNotRetryable, provider.ActionFixCheckout, "bad_request/order_create_failed"},
		{"submit 400 session", kindSubmit, 400, body("bad_request", "order_submit_failed"), provider.ClassNotRetryable, provider.ActionNewPaymentMethod, "bad_request/order_submit_failed"},
		{"submit 422", kindSubmit, 422, body("bad_request", "x"), provider.ClassNotRetryable, provider.ActionFixCheckout, "bad_request/x"},
		{"submit 404 consumed", kindSubmit, 404, body("not_found", "resource-not-found"), provider.ClassAlreadySubmitted, provider.ActionNone, "not_found/resource-not-found"},
		{"submit 408", kindSubmit, 408, body("request_timeout", "t"), provider.ClassOutcomeUnknown, provider.ActionNone, "request_timeout/t"},
		{"submit 500", kindSubmit, 500, body("internal_server_error", "e"), provider.ClassOutcomeUnknown, provider.ActionNone, "internal_server_error/e"},
		{"submit 503 html", kindSubmit, 503, []byte("<html>down</html>"), provider.ClassOutcomeUnknown, provider.ActionNone, "http_503"},
		{"submit 504", kindSubmit, 504, body("request_timeout", "request-timeout"), provider.ClassOutcomeUnknown, provider.ActionNone, "request_timeout/request-timeout"},
		{"submit 302", kindSubmit, 302, nil, provider.ClassOutcomeUnknown, provider.ActionNone, "http_302"},
		{"submit 429", kindSubmit, 429, body("too_many_requests", "x"), provider.ClassRateLimited, provider.ActionNone, "too_many_requests/x"},
		{"submit 401", kindSubmit, 401, body("unauthorized", "unauthorized"), provider.ClassNotRetryable, provider.ActionInvestigate, "unauthorized/unauthorized"},
		{"create 500", kindCreate, 500, body("internal_server_error", "e"), provider.ClassRetryable, provider.ActionNone, "internal_server_error/e"},
		{"create 400", kindCreate, 400, body("bad_request", "invalid_parameter"), provider.ClassNotRetryable, provider.ActionFixInput, "bad_request/invalid_parameter"},
		{"create 409", kindCreate, 409, body("conflict", "x"), provider.ClassNotRetryable, provider.ActionFixInput, "conflict/x"},
		{"gate 404 consumed", kindCheckout, 404, body("not_found", "resource-not-found"), provider.ClassAlreadySubmitted, provider.ActionNone, "not_found/resource-not-found"},
		{"gate 503", kindCheckout, 503, nil, provider.ClassRetryable, provider.ActionNone, "http_503"},
		{"update 400", kindCheckout, 400, body("bad_request", "x"), provider.ClassNotRetryable, provider.ActionFixCheckout, "bad_request/x"},
		{"attach 400", kindAttach, 400, body("bad_request", "x"), provider.ClassNotRetryable, provider.ActionNewPaymentMethod, "bad_request/x"},
		{"attach 404", kindAttach, 404, body("not_found", "x"), provider.ClassAlreadySubmitted, provider.ActionNone, "not_found/x"},
		{"read 500", kindRead, 500, body("internal_server_error", "e"), provider.ClassRetryable, provider.ActionNone, "internal_server_error/e"},
		{"read 400", kindRead, 400, body("bad_request", "x"), provider.ClassNotRetryable, provider.ActionFixInput, "bad_request/x"},
		{"read 302", kindRead, 302, nil, provider.ClassUnknownRetryability, provider.ActionInvestigate, "http_302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{RequestIDHeader: {"req_1"}}
			e := classify("op", tt.kind, tt.status, h, tt.body, time.Now())
			if e.Class != tt.class || e.Action != tt.action || e.Code != tt.code || e.HTTPStatus != tt.status || e.RequestID != "req_1" {
				t.Fatalf("classify = %+v, want class %v action %q code %q", *e, tt.class, tt.action, tt.code)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", defaultRetryAfter},
		{"0", 0},
		{"3", 3 * time.Second},
		{" 7 ", 7 * time.Second},
		{"-1", defaultRetryAfter},
		{"soon", defaultRetryAfter},
		{"99999999999999999999", defaultRetryAfter}, // not an int64
		{"86400", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTransportError(t *testing.T) {
	dial := &url.Error{Op: "Post", URL: "http://h/checkouts/c/sources/src_secret",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	timeout := &url.Error{Op: "Post", URL: "http://h/orders", Err: fmt.Errorf("awaiting headers: %w", errTimeout{})}
	tests := []struct {
		name  string
		kind  opKind
		sent  bool
		err   error
		class provider.Class
		code  string
	}{
		{"submit not sent", kindSubmit, false, dial, provider.ClassRetryable, "network"},
		{"submit sent", kindSubmit, true, timeout, provider.ClassOutcomeUnknown, "timeout"},
		{"create sent", kindCreate, true, timeout, provider.ClassRetryable, "timeout"},
		{"attach", kindAttach, false, dial, provider.ClassRetryable, "network"},
		{"read canceled", kindRead, true, fmt.Errorf("x: %w", context.Canceled), provider.ClassRetryable, "canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := transportError("op", tt.kind, tt.sent, tt.err, "src_secret")
			if e.Class != tt.class || e.Code != tt.code {
				t.Fatalf("transportError = %+v, want %v %q", *e, tt.class, tt.code)
			}
			if e.Message == "" || containsAny(e.Error(), "src_secret", "http://h") {
				t.Fatalf("message %q: empty, or holds the URL", e.Message)
			}
		})
	}
}

type errTimeout struct{}

func (errTimeout) Error() string   { return "i/o timeout" }
func (errTimeout) Timeout() bool   { return true }
func (errTimeout) Temporary() bool { return true }

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestClean(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"key sk_1 in text", "key [REDACTED] in text"},
		{"ctl\x00\nchars", "ctl  chars"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{long, strings.Repeat("é", maxMessageLen/2) + "…"},
	}
	for _, tt := range tests {
		if got := clean(tt.in, maxMessageLen, []string{"sk_1", ""}); got != tt.want {
			t.Errorf("clean(%.20q) = %.40q, want %.40q", tt.in, got, tt.want)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"12.34", 1234, true}, {"12", 1200, true}, {"0.1", 10, true}, {"1e2", 10000, true},
		{"-3.5", -350, true}, {"0.005", 1, true}, {"0.0049", 0, true}, {"-0.005", -1, true},
		{`"12"`, 1200, true}, {"1e999999", 0, false}, {"true", 0, false},
	}
	for _, tt := range tests {
		var a amount
		err := a.UnmarshalJSON([]byte(tt.in))
		if (err == nil) != tt.ok || (tt.ok && int64(a) != tt.want) {
			t.Errorf("amount(%s) = %d, %v; want %d ok=%v", tt.in, a, err, tt.want, tt.ok)
		}
	}
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", 1234: "12.34", -150: "-1.50"} {
		if b, _ := amount(cents).MarshalJSON(); string(b) != want {
			t.Errorf("amount(%d) = %s, want %s", cents, b, want)
		}
	}
}
