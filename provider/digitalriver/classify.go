package digitalriver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/orderflow/orderflow/provider"
)

// opKind says what a request does, which decides how a failure of it is classified.
type opKind int

const (
	// kindCreate is POST /checkouts: it charges nothing, so a retry at worst orphans a checkout.
	kindCreate opKind = iota + 1
	// kindCheckout reads or updates an existing checkout: 404 means it was consumed by an order.
	kindCheckout
	// kindAttach attaches a payment source: as kindCheckout, but a 4xx means the source is unusable.
	kindAttach
	// kindSubmit is POST /orders, the call that charges.
	kindSubmit
	// kindRead is a lookup (GET /orders).
	kindRead
)

const (
	// RequestIDHeader is the response header whose value becomes provider.Error.RequestID.
	RequestIDHeader = "X-Request-Id"

	maxMessageLen     = 512
	maxRequestIDLen   = 128
	defaultRetryAfter = time.Second // a 429 without a usable Retry-After
	maxRetryAfter     = time.Hour   // a longer Retry-After is clamped: the caller's own deadlines apply
	redacted          = "[REDACTED]"
)

// Digital River codes the classification looks at.
const (
	codeOrderSubmitFailed = "order_submit_failed"
	// CodePaymentSessionNotReady is provider.Error.Code when Submit's payment-session gate fails
	// before POST /orders is sent.
	CodePaymentSessionNotReady = "payment_session_not_ready"
)

// classify turns a non-2xx answer into a *provider.Error. It follows "Handling a rejected order":
// 409 on POST /orders needs a new checkout, other 4xx a fixed checkout resubmitted with the same id;
// a 5xx or timeout after POST /orders was sent leaves the outcome unknown. A 404 on an existing
// checkout is provisionally ClassAlreadySubmitted (the documented answer to a reused checkout,
// "Processing orders", section "Reusing the checkout identifier"). Every 4xx about an existing
// checkout is only provisional: Client.decide settles it after looking the checkout's orders up.
// secrets are removed from every text taken from the answer.
func classify(op string, kind opKind, status int, h http.Header, body []byte, now time.Time, secrets ...string) *provider.Error {
	e := &provider.Error{Op: op, HTTPStatus: status, RequestID: requestID(h, secrets)}
	typ, code, msg := parseErrorBody(status, body)
	e.Code = clean(code, 128, secrets)
	e.Message = clean(msg, maxMessageLen, secrets)

	switch {
	case status == http.StatusTooManyRequests:
		e.Class, e.RetryAfter = provider.ClassRateLimited, retryAfter(h.Get("Retry-After"), now)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Our credentials, not the order: every order fails until someone fixes the key.
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionInvestigate

	case kind == kindSubmit && status == http.StatusNotFound:
		e.Class = provider.ClassAlreadySubmitted
	case kind == kindSubmit && status == http.StatusConflict:
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionNewCheckout
	case kind == kindSubmit && status == http.StatusRequestTimeout, kind == kindSubmit && typ == "request_timeout":
		e.Class = provider.ClassOutcomeUnknown
	case kind == kindSubmit && status >= 400 && status < 500 && strings.HasSuffix(code, "/"+codeOrderSubmitFailed):
		// The payment session was not ready after all: the checkout needs a (new) payment source.
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionNewPaymentMethod
	case kind == kindSubmit && status >= 400 && status < 500:
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionFixCheckout
	case kind == kindSubmit:
		// 5xx, or a status no documented answer uses: the order may exist. Look it up, never resubmit blindly.
		e.Class = provider.ClassOutcomeUnknown

	case (kind == kindCheckout || kind == kindAttach) && status == http.StatusNotFound:
		e.Class = provider.ClassAlreadySubmitted
	case status == http.StatusRequestTimeout || status >= 500 && status < 600:
		e.Class = provider.ClassRetryable
	case kind == kindAttach && status >= 400 && status < 500:
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionNewPaymentMethod
	case kind == kindCheckout && status >= 400 && status < 500:
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionFixCheckout
	case status >= 400 && status < 500:
		e.Class, e.Action = provider.ClassNotRetryable, provider.ActionFixInput
	default:
		e.Class, e.Action = provider.ClassUnknownRetryability, provider.ActionInvestigate
	}
	return e
}

// parseErrorBody returns the error type, the code ("type/code", e.g. "conflict/failed-request")
// and a message. A body that is not Digital River's error shape yields "http_<status>" and a
// snippet of the body.
func parseErrorBody(status int, body []byte) (typ, code, msg string) {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Type == "" {
		snippet := strings.TrimSpace(string(body))
		if snippet == "" {
			snippet = http.StatusText(status)
		}
		return "", "http_" + strconv.Itoa(status), snippet
	}
	code = eb.Type
	var msgs []string
	for i, d := range eb.Errors {
		if i == 0 && d.Code != "" {
			code += "/" + d.Code
		}
		m := d.Message
		if d.Parameter != "" {
			m += " (parameter " + d.Parameter + ")"
		}
		if m = strings.TrimSpace(m); m != "" {
			msgs = append(msgs, m)
		}
		if len(msgs) == 4 {
			break
		}
	}
	return eb.Type, code, strings.Join(msgs, "; ")
}

// retryAfter parses Retry-After as delay-seconds or an HTTP date, clamped to [0, maxRetryAfter].
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return defaultRetryAfter
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return defaultRetryAfter
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return defaultRetryAfter
	}
	return min(max(d, 0), maxRetryAfter)
}

// transportError classifies a request that got no HTTP answer. Only POST /orders can have charged:
// once its connection was obtained the bytes may have left, so the outcome is unknown. Everything
// else is safe to retry.
func transportError(op string, kind opKind, sent bool, err error, secrets ...string) *provider.Error {
	e := &provider.Error{Op: op, Class: provider.ClassRetryable, Code: "network"}
	if kind == kindSubmit && sent {
		e.Class = provider.ClassOutcomeUnknown
	}
	switch {
	case errors.Is(err, context.Canceled):
		e.Code = "canceled"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		e.Code = "timeout"
	}
	// A *url.Error's text holds the URL, and the URL of POST /checkouts/{id}/sources/{sourceId}
	// holds the payment source: keep only the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	e.Message = clean(err.Error(), maxMessageLen, secrets)
	return e
}

// isTimeout reports whether any error in err's chain says it is a timeout. errors.As would stop at
// the *url.Error, whose Timeout looks only one level down.
func isTimeout(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
			return true
		}
	}
	return false
}

func requestID(h http.Header, secrets []string) string {
	return clean(h.Get(RequestIDHeader), maxRequestIDLen, secrets)
}

// clean makes text from the network safe to log: valid UTF-8, no control characters, no secrets,
// at most n bytes.
func clean(s string, n int, secrets []string) string {
	s = redact(s, secrets)
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = redact(s, secrets) // again: sanitizing may have produced a secret's printable form
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}
