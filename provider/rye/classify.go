package rye

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Khan/genqlient/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orderflow/orderflow/provider"
)

// Rye operation names, as provider.Error.Op reports them.
const (
	opCreateCart = "createCart"
	opSubmitCart = "submitCart"
	opCheckout   = "checkoutByCartID"
)

// Codes the client reports for failures that carry no Rye code.
const (
	CodeTransport         = "TRANSPORT"          // no response arrived
	CodeRateLimited       = "RATE_LIMITED"       // HTTP 429
	CodeUnauthenticated   = "UNAUTHENTICATED"    // HTTP 401/403
	CodeMalformedResponse = "MALFORMED_RESPONSE" // a response the client could not interpret
	CodeNotSubmitted      = "NOT_SUBMITTED"      // submitCart succeeded without submitting every store
)

// apiError is one Rye error: a root GraphQL error or a cart- or store-level error in data.
type apiError struct {
	code    string
	message string
	root    bool // a root GraphQL error (errors[].extensions.code)
}

// Root error codes (extensions.code) with a meaning of their own, from
// docs.rye.com/api-reference/root-errors.
const (
	rootCartExpired    = "CART_EXPIRED_ERROR"    // carts expire 10 days after creation
	rootCartNotFound   = "CART_NOT_FOUND_ERROR"  // the submitCart doc's own example
	rootInternalServer = "INTERNAL_SERVER_ERROR" // "usually transient and can be retried"
)

// classify turns the outcome of one operation into a *provider.Error, or nil on success,
// following the rules in the package documentation.
// err is what genqlient returned; dataErrs are the cart- and store-level errors found in data
// (cart-level first). secrets are scrubbed from every message.
func classify(op string, ex *exchange, err error, dataErrs []apiError, secrets ...string) *provider.Error {
	wrote, responded, status, header, ext := ex.snapshot()
	pe := &provider.Error{Op: op, HTTPStatus: status, RequestID: requestID(header)}
	submit := op == opSubmitCart
	defer func() {
		pe.Code, pe.Message, pe.RequestID = redact(pe.Code, secrets), redact(pe.Message, secrets), redact(pe.RequestID, secrets)
	}()

	if !responded {
		if err == nil {
			return nil // a test transport may answer without recording; nothing to classify
		}
		pe.Code, pe.Message = CodeTransport, err.Error()
		pe.Class = provider.ClassRetryable
		if submit && wrote {
			pe.Class = provider.ClassOutcomeUnknown
		}
		return pe
	}
	switch {
	case status == http.StatusTooManyRequests:
		pe.Class, pe.Code, pe.RetryAfter = provider.ClassRateLimited, CodeRateLimited, retryAfter(header, time.Now())
		pe.Message = "rate limited (tier " + header.Get("Ratelimit-Tier") + ")"
		return pe
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		pe.Class, pe.Code, pe.Action = provider.ClassNotRetryable, CodeUnauthenticated, provider.ActionInvestigate
		pe.Message = "the API key was rejected"
		return pe
	case status >= 500:
		pe.Code = "HTTP_" + strconv.Itoa(status)
		pe.Class, pe.Message = provider.ClassRetryable, "server error; nothing was submitted"
		if submit {
			pe.Class, pe.Message = provider.ClassOutcomeUnknown, "server error or timeout; the cart may have been submitted, poll checkoutByCartID"
		}
		return pe
	}

	var errs []apiError
	var gqlErrs gqlerror.List
	var httpErr *graphql.HTTPError
	switch {
	case errors.As(err, &httpErr):
		errs = rootErrors(httpErr.Response.Errors)
		ext = httpErr.Response.Extensions
	case errors.As(err, &gqlErrs):
		errs = rootErrors(gqlErrs)
	case err != nil:
		pe.Code, pe.Message = CodeMalformedResponse, "decoding response: "+err.Error()
		pe.Class = provider.ClassRetryable
		if submit {
			pe.Class = provider.ClassOutcomeUnknown
		}
		return pe
	}
	errs = append(errs, dataErrs...)
	if len(errs) == 0 {
		if status == http.StatusOK {
			return nil
		}
		pe.Class, pe.Action, pe.Code = provider.ClassUnknownRetryability, provider.ActionInvestigate, "HTTP_"+strconv.Itoa(status)
		pe.Message = "unexpected HTTP status"
		return pe
	}

	primary := errs[0]
	for _, e := range errs {
		if e.code == "ALREADY_SUBMITTED" {
			primary = e
			break
		}
	}
	pe.Code, pe.Message = primary.code, joinMessages(errs)
	pe.Retryable = retryableFlag(ext)
	switch {
	case primary.code == "ALREADY_SUBMITTED":
		pe.Class = provider.ClassAlreadySubmitted
	case primary.root && primary.code == rootCartExpired:
		pe.Class, pe.Action = provider.ClassNotRetryable, provider.ActionNewCart
	case primary.root && primary.code == rootCartNotFound && submit:
		// The cart does not exist, so nothing of it was submitted: a new cart is safe.
		pe.Class, pe.Action = provider.ClassNotRetryable, provider.ActionNewCart
	case primary.root && primary.code == rootInternalServer:
		// Transient per the docs; on submitCart whether the cart moved on is not documented,
		// so it is resolved by polling, never by resubmitting.
		pe.Class = provider.ClassRetryable
		if submit {
			pe.Class = provider.ClassOutcomeUnknown
		}
	case pe.Retryable == nil:
		pe.Class, pe.Action = provider.ClassUnknownRetryability, provider.ActionInvestigate
	case *pe.Retryable:
		pe.Class = provider.ClassRetryable
	default:
		pe.Class, pe.Action = provider.ClassNotRetryable, actionFor(primary.code)
	}
	return pe
}

// actionFor says what must change before a not-retryable Rye error can succeed.
func actionFor(code string) provider.Action {
	switch {
	case code == "PAYMENT_FAILED":
		return provider.ActionNewPaymentMethod
	case code == "UNDELIVERABLE":
		return provider.ActionNewAddress
	case code == "PRODUCTS_UNAVAILABLE":
		return provider.ActionNewCart
	case strings.HasPrefix(code, "BUYER_IDENTITY_"), strings.HasPrefix(code, "BILLING_ADDRESS_"),
		code == "SUBMIT_STORE_FAILED", code == "FEATURE_UNSUPPORTED", code == "CART_IS_EMPTY",
		code == "SUBMIT_CART_FAILED", code == "PRODUCT_NOT_FOUND", code == "STORE_NOT_FOUND":
		return provider.ActionFixInput
	}
	return provider.ActionInvestigate
}

// retryableFlag reads the response's top-level extensions.retryable, the one place Rye
// documents it for submission ("Cart submission returns this information via a GraphQL extension
// field named retryable", docs.rye.com/get-started/ordering/handling-errors). Absent or not a
// boolean is nil: retryability unknown.
func retryableFlag(ext map[string]any) *bool {
	if b, ok := ext["retryable"].(bool); ok {
		return &b
	}
	return nil
}

func rootErrors(list gqlerror.List) []apiError {
	out := make([]apiError, 0, len(list))
	for _, e := range list {
		if e == nil {
			continue
		}
		ae := apiError{message: e.Message, root: true}
		if c, ok := e.Extensions["code"].(string); ok {
			ae.code = c
		}
		out = append(out, ae)
	}
	return out
}

func joinMessages(errs []apiError) string {
	var b strings.Builder
	for i, e := range errs {
		if i > 0 {
			b.WriteString("; ")
		}
		if e.code != "" {
			b.WriteString(e.code)
			b.WriteString(": ")
		}
		b.WriteString(e.message)
	}
	const maxLen = 512
	s := b.String()
	if len(s) > maxLen {
		s = s[:maxLen] + "..."
	}
	return s
}

// retryAfter is how long to wait after a 429: Retry-After seconds if sent (Rye does not
// document it), else Ratelimit-Reset, "the time at which the current rate limit window resets
// in seconds" (docs.rye.com/api-reference/ratelimits), read as an epoch time when it is one
// (the docs' sample code treats it so) and as seconds from now otherwise; default 1s.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("Retry-After")), 10, 64); err == nil && n > 0 && n < maxWaitSeconds {
		return time.Duration(n) * time.Second
	}
	n, err := strconv.ParseInt(strings.TrimSpace(h.Get("Ratelimit-Reset")), 10, 64)
	switch {
	case err != nil || n <= 0:
	case n >= epochThreshold:
		if d := time.Unix(n, 0).Sub(now); d > 0 && d < maxWaitSeconds*time.Second {
			return d.Round(time.Millisecond)
		}
	case n < maxWaitSeconds:
		return time.Duration(n) * time.Second
	}
	return time.Second
}

const (
	// maxWaitSeconds bounds a wait a header can ask for: a day.
	maxWaitSeconds = 24 * 3600
	// epochThreshold separates an epoch time from a number of seconds (2001-09-09).
	epochThreshold = 1_000_000_000
)

func requestID(h http.Header) string {
	for _, name := range []string{"X-Request-Id", "Rye-Request-Id", "Request-Id"} {
		if v := h.Get(name); v != "" {
			return v
		}
	}
	return ""
}

// redact removes secrets from s. Secrets shorter than 4 bytes are not scrubbed: they are not
// secrets worth the name, and scrubbing them would mangle ordinary text.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[REDACTED]")
		}
	}
	return s
}

// errorf builds a local (pre-request) classification error.
func errorf(op string, class provider.Class, action provider.Action, code, format string, args ...any) *provider.Error {
	return &provider.Error{Op: op, Class: class, Action: action, Code: code, Message: fmt.Sprintf(format, args...)}
}
