// Package digitalriver is the provider.Provider for Digital River's REST checkout API.
//
// A cart is a Digital River checkout: CreateCart creates it (POST /checkouts) and attaches the
// payment source; Submit checks the checkout's payment session and turns the checkout into an
// order (POST /orders), which charges; Status finds the order by checkout id (GET /orders).
// Failures are classified as "Handling a rejected order" (seeds/000) prescribes:
//
//	| answer                                                        | provider.Error                                          |
//	|---------------------------------------------------------------|---------------------------------------------------------|
//	| payment session not ready (checked before POST /orders)       | ClassNotRetryable, ActionNewPaymentMethod               |
//	| 409 on POST /orders                                           | ClassNotRetryable, ActionNewCheckout                    |
//	| 400 order_submit_failed on POST /orders                       | ClassNotRetryable, ActionNewPaymentMethod               |
//	| other 4xx on POST /orders or POST /checkouts/{id}             | ClassNotRetryable, ActionFixCheckout (same checkout id) |
//	| 4xx attaching a source                                        | ClassNotRetryable, ActionNewPaymentMethod               |
//	| other 4xx on POST /checkouts or GET /orders                   | ClassNotRetryable, ActionFixInput                       |
//	| 404 on POST /orders or on an existing checkout                | ClassAlreadySubmitted: call Status, never resubmit      |
//	| 429 anywhere                                                  | ClassRateLimited, RetryAfter from Retry-After           |
//	| 401/403 anywhere                                              | ClassNotRetryable, ActionInvestigate (the API key)      |
//	| 5xx, 408, timeout, cut connection after POST /orders was sent | ClassOutcomeUnknown: call Status                        |
//	| 5xx, 408 or network error anywhere else                       | ClassRetryable                                          |
//
// Secrets: the API key and payment source ids never appear in errors or logs. Logs name routes by
// template (POST /checkouts/{id}/sources/{sourceId}) and redact every text taken from an answer.
package digitalriver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/provider"
)

// Name is the provider's name and the merchant of its single order per checkout.
const Name = "digitalriver"

// DefaultTimeout bounds each request when Config.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

const maxResponseBytes = 4 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the API root, e.g. https://api.digitalriver.com or, for the sandbox mounted under
	// /dr, http://127.0.0.1:8080/dr. Required; http or https; a trailing slash is ignored.
	BaseURL string
	// APIKey is the confidential key, sent as "Authorization: Bearer <APIKey>". Required. Never logged.
	APIKey string
	// HTTPClient sends the requests. Default: a client with DefaultTimeout (30s).
	HTTPClient *http.Client
	// Logger receives one debug record per request (route template, checkout id, status, request
	// id, duration). Default: discard.
	Logger *slog.Logger
}

// Validate reports whether c can build a Client.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.BaseURL); err != nil {
		errs = append(errs, errors.New("BaseURL is not a URL"))
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		errs = append(errs, errors.New("BaseURL must be an absolute http(s) URL without credentials, query or fragment"))
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("APIKey is required"))
	} else if strings.ContainsFunc(c.APIKey, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, errors.New("APIKey must not contain spaces or control characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("validating digitalriver config: %w", err)
	}
	return nil
}

// Client is a Digital River checkout client. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	hc   *http.Client
	log  *slog.Logger
}

var _ provider.Provider = (*Client)(nil)

// New returns a Client for cfg, or an error if cfg is invalid.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, hc: cfg.HTTPClient, log: cfg.Logger}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultTimeout}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Name returns "digitalriver".
func (c *Client) Name() string { return Name }

// CreateCart creates a checkout (POST /checkouts) with upstreamId = req.OrderRef, the items
// (skuId = ProductID) and the buyer as email, shipTo and billTo, then attaches req.PaymentRef as its
// payment source. Without a PaymentRef the checkout is left requiring a source (see AttachSource).
// If attaching fails the checkout is abandoned (nothing was charged) and the error returned.
func (c *Client) CreateCart(ctx context.Context, req provider.CartRequest) (provider.Cart, error) {
	body := checkoutRequest{
		Items:      lineItemsOf(req.Items),
		Email:      req.Buyer.Email,
		Currency:   req.Currency,
		UpstreamID: req.OrderRef,
	}
	if req.Buyer != (provider.Buyer{}) {
		body.ShipTo, body.BillTo = contactOf(req.Buyer), contactOf(req.Buyer)
	}
	var co checkout
	err := c.do(ctx, call{
		op: "POST /checkouts", kind: kindCreate, method: http.MethodPost, path: "/checkouts",
		body: body, secrets: []string{req.PaymentRef},
	}, &co)
	if err != nil {
		return provider.Cart{}, err
	}
	if co.ID == "" {
		return provider.Cart{}, &provider.Error{Class: provider.ClassUnknownRetryability, Op: "POST /checkouts",
			Code: "decode_response", Message: "checkout without an id", Action: provider.ActionInvestigate}
	}
	if req.PaymentRef != "" {
		if err := c.AttachSource(ctx, co.ID, req.PaymentRef); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "abandoning digitalriver checkout: attaching the payment source failed",
				slog.String("checkout", co.ID), slog.String("error", err.Error()))
			return provider.Cart{}, err
		}
	}
	return provider.Cart{
		ID: co.ID, TotalCents: int64(co.TotalAmount), Currency: co.Currency,
		CreatedAt: co.CreatedTime, Merchants: []string{Name},
	}, nil
}

// Submit turns checkout req.CartID into an order. It first reads the checkout and refuses, without
// sending POST /orders, unless its payment session is requires_confirmation with nothing left to
// contribute (Code CodePaymentSessionNotReady). A 404 on either call means the checkout was
// already consumed (ClassAlreadySubmitted). See the package doc for every other answer.
func (c *Client) Submit(ctx context.Context, req provider.SubmitRequest) (provider.Submission, error) {
	if req.CartID == "" {
		return provider.Submission{}, &provider.Error{Class: provider.ClassNotRetryable, Op: "POST /orders",
			Code: "missing_checkout_id", Message: "no checkout id to submit", Action: provider.ActionFixInput}
	}
	secrets := []string{req.PaymentRef}
	if err := c.checkPaymentSession(ctx, req.CartID, secrets); err != nil {
		return provider.Submission{}, err
	}
	var o order
	err := c.do(ctx, call{
		op: "POST /orders", kind: kindSubmit, method: http.MethodPost, path: "/orders",
		body: orderRequest{CheckoutID: req.CartID}, checkoutID: req.CartID, secrets: secrets,
	}, &o)
	if err != nil {
		return provider.Submission{}, err
	}
	return provider.Submission{CartID: req.CartID, Orders: []provider.MerchantOrder{{
		Merchant: Name, OrderID: o.ID, Status: o.State,
	}}}, nil
}

// checkPaymentSession is the gate the seed recommends before POST /orders.
func (c *Client) checkPaymentSession(ctx context.Context, checkoutID string, secrets []string) error {
	const op = "GET /checkouts/{id}"
	var co checkout
	var reqID string
	err := c.do(ctx, call{
		op: op, kind: kindCheckout, method: http.MethodGet, path: "/checkouts/" + url.PathEscape(checkoutID),
		checkoutID: checkoutID, secrets: secrets, requestID: &reqID,
	}, &co)
	if err != nil {
		return err
	}
	s := co.Payment.Session
	if s.State == "requires_confirmation" && s.AmountRemainingToBeContributed == 0 {
		return nil
	}
	e := &provider.Error{
		Class: provider.ClassNotRetryable, Op: op, Code: CodePaymentSessionNotReady, RequestID: reqID,
		Message: clean(fmt.Sprintf("payment session is %q with %s remaining to be contributed",
			s.State, amountText(s.AmountRemainingToBeContributed)), maxMessageLen, secrets),
		Action: provider.ActionNewPaymentMethod,
	}
	switch s.State {
	case "requires_source", "requires_confirmation", "pending_funds", "pending_redirect", "failed":
		// The customer's payment must change: a source that covers the amount, funds, a redirect.
	default:
		e.Action = provider.ActionInvestigate // "pending", "complete" or a state this client does not know
	}
	return e
}

func amountText(a amount) string { b, _ := a.MarshalJSON(); return string(b) }

// Status reports the order made from checkout cartID (GET /orders?checkoutId=). It always holds at
// least one OrderPlacement for merchant "digitalriver": without an order it has no events
// (PhaseNotStarted). Order states map to events as follows: pending_payment, in_review and unknown
// states -> SubmissionStarted; accepted, fulfilled, complete -> SubmissionStarted, PaymentSucceeded,
// Placed; failed, blocked, cancelled -> SubmissionStarted, Failed{ReasonCode: state, Retryable: false}.
func (c *Client) Status(ctx context.Context, cartID string) (provider.Placement, error) {
	const op = "GET /orders"
	if cartID == "" { // an unfiltered GET /orders would list every order
		return provider.Placement{}, &provider.Error{Class: provider.ClassNotRetryable, Op: op,
			Code: "missing_checkout_id", Message: "no checkout id to look up", Action: provider.ActionFixInput}
	}
	var list orderList
	err := c.do(ctx, call{
		op: op, kind: kindRead, method: http.MethodGet, path: "/orders",
		query: url.Values{"checkoutId": {cartID}}, checkoutID: cartID,
	}, &list)
	if err != nil {
		return provider.Placement{}, err
	}
	orders := list.Data[:0:0]
	for _, o := range list.Data {
		if o.CheckoutID == "" || o.CheckoutID == cartID { // defend against a server ignoring the filter
			orders = append(orders, o)
		}
	}
	if len(orders) > 1 {
		c.log.LogAttrs(ctx, slog.LevelError, "digitalriver checkout has more than one order",
			slog.String("checkout", cartID), slog.Int("orders", len(orders)))
	}
	return placementOf(cartID, orders), nil
}

// CheckoutPatch is a change to a checkout for the fix-and-resubmit path (a non-409 4xx on POST
// /orders). Nil and empty fields are left unchanged.
type CheckoutPatch struct {
	ShipTo *provider.Buyer // sent as shipTo
	BillTo *provider.Buyer // sent as billTo
	Email  string          // the checkout's email
	Items  []provider.Item // replaces every item
}

// UpdateCheckout applies patch to checkout checkoutID (POST /checkouts/{id}). A 404 means the
// checkout was consumed (ClassAlreadySubmitted); other 4xx are ClassNotRetryable, ActionFixCheckout;
// 5xx and network errors are ClassRetryable (an update is idempotent).
func (c *Client) UpdateCheckout(ctx context.Context, checkoutID string, patch CheckoutPatch) error {
	body := checkoutUpdate{Email: patch.Email}
	if patch.ShipTo != nil {
		body.ShipTo = contactOf(*patch.ShipTo)
	}
	if patch.BillTo != nil {
		body.BillTo = contactOf(*patch.BillTo)
	}
	if len(patch.Items) > 0 {
		body.Items = lineItemsOf(patch.Items)
	}
	return c.do(ctx, call{
		op: "POST /checkouts/{id}", kind: kindCheckout, method: http.MethodPost,
		path: "/checkouts/" + url.PathEscape(checkoutID), body: body, checkoutID: checkoutID,
	}, nil)
}

// AttachSource makes sourceID the primary payment source of checkout checkoutID
// (POST /checkouts/{id}/sources/{sourceId}). sourceID is a secret: it never appears in errors or
// logs. A 404 means the checkout was consumed (ClassAlreadySubmitted); other 4xx are
// ClassNotRetryable, ActionNewPaymentMethod; 5xx and network errors are ClassRetryable.
func (c *Client) AttachSource(ctx context.Context, checkoutID, sourceID string) error {
	const op = "POST /checkouts/{id}/sources/{sourceId}"
	if sourceID == "" {
		return &provider.Error{Class: provider.ClassNotRetryable, Op: op, Code: "missing_source",
			Message: "no payment source to attach", Action: provider.ActionNewPaymentMethod}
	}
	return c.do(ctx, call{
		op: op, kind: kindAttach, method: http.MethodPost,
		path:       "/checkouts/" + url.PathEscape(checkoutID) + "/sources/" + url.PathEscape(sourceID),
		checkoutID: checkoutID, secrets: []string{sourceID, url.PathEscape(sourceID)},
	}, nil)
}

// call is one HTTP exchange.
type call struct {
	op         string // route template, safe to log
	kind       opKind
	method     string
	path       string // escaped, relative to BaseURL; may hold secrets, so never logged
	query      url.Values
	body       any
	checkoutID string   // for logs
	secrets    []string // besides the API key, strings that must not leak (payment source)
	requestID  *string  // if set, receives the answer's request id
}

// do sends cl and decodes a 2xx answer into out (if not nil). Every error is a *provider.Error.
func (c *Client) do(ctx context.Context, cl call, out any) error {
	secrets := append([]string{c.key}, cl.secrets...)
	var body io.Reader
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return &provider.Error{Class: provider.ClassNotRetryable, Op: cl.op, Code: "encode_request",
				Message: clean(err.Error(), maxMessageLen, secrets), Action: provider.ActionFixInput}
		}
		body = bytes.NewReader(b)
	}
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	// Until a connection is obtained, no byte of the request can have reached the provider.
	var sent atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { sent.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return &provider.Error{Class: provider.ClassNotRetryable, Op: cl.op, Code: "build_request",
			Message: "invalid request URL", Action: provider.ActionFixInput}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		perr := transportError(cl.op, cl.kind, sent.Load(), err, secrets...)
		c.logCall(ctx, cl, start, 0, "", perr)
		return perr
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	reqID := requestID(resp.Header, secrets)
	if cl.requestID != nil {
		*cl.requestID = reqID
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300

	var perr *provider.Error
	switch {
	case !ok:
		perr = classify(cl.op, cl.kind, resp.StatusCode, resp.Header, raw, time.Now(), secrets...)
	case readErr != nil:
		// A 2xx whose body broke off: for POST /orders the order exists, but we do not know it.
		perr = transportError(cl.op, cl.kind, true, readErr, secrets...)
	case out != nil:
		if err := json.Unmarshal(raw, out); err != nil {
			perr = decodeError(cl, err, secrets)
		}
	}
	if perr != nil {
		perr.HTTPStatus, perr.RequestID = resp.StatusCode, reqID
	}
	c.logCall(ctx, cl, start, resp.StatusCode, reqID, perr)
	if perr != nil {
		return perr
	}
	return nil
}

// decodeError classifies a 2xx answer that could not be decoded.
func decodeError(cl call, err error, secrets []string) *provider.Error {
	e := &provider.Error{Op: cl.op, Code: "decode_response", Message: clean(err.Error(), maxMessageLen, secrets)}
	switch cl.kind {
	case kindSubmit:
		e.Class = provider.ClassOutcomeUnknown // the order was created; look it up
	case kindCreate:
		e.Class = provider.ClassRetryable // at worst an orphaned, uncharged checkout
	default:
		e.Class, e.Action = provider.ClassUnknownRetryability, provider.ActionInvestigate
	}
	return e
}

func (c *Client) logCall(ctx context.Context, cl call, start time.Time, status int, reqID string, perr *provider.Error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("op", cl.op),
		slog.String("checkout", cl.checkoutID),
		slog.Int("status", status),
		slog.String("request_id", reqID),
		slog.Duration("took", time.Since(start)),
	}
	if perr != nil {
		attrs = append(attrs, slog.String("class", perr.Class.String()), slog.String("error", perr.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "digitalriver request", attrs...)
}
