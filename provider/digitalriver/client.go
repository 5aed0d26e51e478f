// Package digitalriver is the provider.Provider for Digital River's REST checkout API.
//
// A cart is a Digital River checkout: CreateCart creates it (POST /checkouts) and attaches the
// payment source; Submit checks the checkout's payment session and turns the checkout into an
// order (POST /orders), which charges; Status finds the order by checkout id (GET /orders).
// Failures are classified as "Handling a rejected order" (seeds/000) prescribes.
//
// A checkout that may already have been sent is never labelled before its orders were looked up.
// The status Digital River gives a reused (consumed) checkout is not something the client may
// rely on: "Processing orders" documents 404 not_found, but 409 (which would read "new checkout")
// and 400 (which would read "fix the checkout") are plausible too, and a wrong label turns into a
// second charge when someone acts on it. So every refusal of an existing checkout (a 4xx other
// than 401, 403, 408 and 429 on POST /orders, POST /checkouts/{id} or attaching a source, a 404
// reading it, or a payment session that is not ready) is followed by GET /orders?checkoutId=
// (a documented list filter) before anything is decided:
//
//	| the checkout's orders (GET /orders?checkoutId=)  | provider.Error                                                            |
//	|--------------------------------------------------|---------------------------------------------------------------------------|
//	| at least one order, in any state                 | ClassAlreadySubmitted: call Status, never resubmit, never a new checkout  |
//	| none                                             | the answer's own class, below (a 404 becomes ActionInvestigate)           |
//	| the lookup failed                                | its class if retryable or rate limited, else ClassNotRetryable, ActionInvestigate |
//
// and, for an answer whose checkout has no order:
//
//	| answer                                                        | provider.Error                                          |
//	|---------------------------------------------------------------|---------------------------------------------------------|
//	| payment session not ready (checked before POST /orders)       | ClassNotRetryable, ActionNewPaymentMethod               |
//	| 409 on POST /orders                                           | ClassNotRetryable, ActionNewCheckout                    |
//	| 400 order_submit_failed on POST /orders                       | ClassNotRetryable, ActionNewPaymentMethod               |
//	| other 4xx on POST /orders or POST /checkouts/{id}             | ClassNotRetryable, ActionFixCheckout (same checkout id) |
//	| 4xx attaching a source                                        | ClassNotRetryable, ActionNewPaymentMethod               |
//	| 404 on POST /orders or on an existing checkout                | ClassNotRetryable, ActionInvestigate (no such checkout) |
//	| other 4xx on POST /checkouts or GET /orders                   | ClassNotRetryable, ActionFixInput                       |
//	| 429 anywhere                                                  | ClassRateLimited, RetryAfter from Retry-After           |
//	| 401/403 anywhere                                              | ClassNotRetryable, ActionInvestigate (the API key)      |
//	| 5xx, 408, timeout, cut connection after POST /orders was sent | ClassOutcomeUnknown: call Status                        |
//	| 5xx, 408 or network error anywhere else                       | ClassRetryable                                          |
//
// Line items: an item with a SKUGroupID is sent as productDetails {id, skuGroupId, name,
// countryOfOrigin} instead of a catalogue skuId ("Describing line items"); countryOfOrigin comes
// from Config.CountryOfOrigin. Items can not be changed on an existing checkout (Digital River
// answers 400), so CheckoutPatch has no items: changed items need a new checkout.
//
// Every request carries the troubleshooting headers Digital River recommends ("API structure",
// docs.digitalriver.com/digital-river-api/developer-resources/api-structure#headers-for-troubleshooting):
// upstream-id (unique per request; it becomes provider.Error.RequestID when the answer has no
// X-Request-Id), upstream-application-id, and forwarded: for=<shopper IP> when the IP is known.
//
// Secrets: the API key and payment source ids never appear in errors or logs. Logs name routes by
// template (POST /checkouts/{id}/sources/{sourceId}) and redact every text taken from an answer.
package digitalriver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/netip"
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
	// HTTPClient sends the requests. Default: a client with DefaultTimeout (30s). A nil
	// Transport (the default client's included) is provider.NewTransport(MaxConns), this
	// client's own pool of keep-alive connections.
	HTTPClient *http.Client
	// MaxConns sizes that transport's idle connections per host: the calls carried at once.
	// 0: provider.DefaultMaxConns.
	MaxConns int
	// Logger receives one debug record per request (route template, checkout id, status, request
	// id, duration). Default: discard.
	Logger *slog.Logger
	// CountryOfOrigin is the ISO 3166 alpha-2 country where uncatalogued items (provider.Item with
	// a SKUGroupID, sent as productDetails) are made, for items that do not name their own
	// (Item.CountryOfOrigin); Digital River requires it in productDetails. Neither set: CreateCart
	// refuses such items (ClassNotRetryable, ActionFixInput) without a request.
	CountryOfOrigin string
	// ApplicationID is sent as the upstream-application-id header ("<application>/<version>").
	// Default "orderflow".
	ApplicationID string
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
	if c.CountryOfOrigin != "" && !isCountryCode(c.CountryOfOrigin) {
		errs = append(errs, errors.New("CountryOfOrigin must be an ISO 3166 alpha-2 code (two capital letters)"))
	}
	if strings.ContainsFunc(c.ApplicationID, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		errs = append(errs, errors.New("ApplicationID must not contain control characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("validating digitalriver config: %w", err)
	}
	return nil
}

func isCountryCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// Client is a Digital River checkout client. It is safe for concurrent use.
type Client struct {
	base   string
	key    string
	hc     *http.Client
	log    *slog.Logger
	origin string // Config.CountryOfOrigin
	appID  string
}

var _ provider.Provider = (*Client)(nil)

// New returns a Client for cfg, or an error if cfg is invalid.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, hc: cfg.HTTPClient, log: cfg.Logger,
		origin: cfg.CountryOfOrigin, appID: cfg.ApplicationID}
	if c.appID == "" {
		c.appID = "orderflow"
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultTimeout}
	}
	if c.hc.Transport == nil {
		hc := *c.hc
		hc.Transport = provider.NewTransport(cfg.MaxConns)
		c.hc = &hc
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Name returns "digitalriver".
func (c *Client) Name() string { return Name }

// CreateCart creates a checkout (POST /checkouts) with upstreamId = req.OrderRef, the items (skuId =
// ProductID, or productDetails for an item with a SKUGroupID), the buyer as email, shipTo and billTo,
// and browserIp = req.ShopperIP when it is an IP address, then attaches req.PaymentRef as its payment
// source. Without a PaymentRef the checkout is left requiring a source (see AttachSource). If
// attaching fails the checkout is abandoned (nothing was charged) and the error returned.
func (c *Client) CreateCart(ctx context.Context, req provider.CartRequest) (provider.Cart, error) {
	const op = "POST /checkouts"
	items, err := lineItemsOf(req.Items, c.origin)
	if err != nil {
		return provider.Cart{}, &provider.Error{Class: provider.ClassNotRetryable, Op: op, Code: "invalid_items",
			Message: clean(err.Error(), maxMessageLen, []string{req.PaymentRef}), Action: provider.ActionFixInput}
	}
	ip := shopperIP(req.ShopperIP)
	body := checkoutRequest{
		Items:      items,
		Email:      req.Buyer.Email,
		Currency:   req.Currency,
		UpstreamID: req.OrderRef,
		BrowserIP:  ip,
	}
	if req.Buyer != (provider.Buyer{}) {
		body.ShipTo, body.BillTo = contactOf(req.Buyer), contactOf(req.Buyer)
	}
	var co checkout
	err = c.do(ctx, call{
		op: op, kind: kindCreate, method: http.MethodPost, path: "/checkouts",
		body: body, secrets: []string{req.PaymentRef}, shopperIP: ip,
	}, &co)
	if err != nil {
		return provider.Cart{}, err
	}
	if co.ID == "" {
		return provider.Cart{}, &provider.Error{Class: provider.ClassUnknownRetryability, Op: op,
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
		ID: co.ID, TotalCents: int64(co.TotalAmount), Currency: co.Currency, TotalKnown: true,
		CreatedAt: co.CreatedTime, Merchants: []string{Name},
	}, nil
}

// shopperIP returns s in canonical form if it is an IP address, else "" (never sent).
func shopperIP(s string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}

// Submit turns checkout req.CartID into an order. It first reads the checkout and refuses, without
// sending POST /orders, unless its payment session is requires_confirmation with nothing left to
// contribute (Code CodePaymentSessionNotReady). Every refusal of the checkout, by the gate or by
// POST /orders, is decided only after the checkout's orders were looked up: an existing order is
// ClassAlreadySubmitted (see the package doc).
func (c *Client) Submit(ctx context.Context, req provider.SubmitRequest) (provider.Submission, error) {
	if req.CartID == "" {
		return provider.Submission{}, &provider.Error{Class: provider.ClassNotRetryable, Op: "POST /orders",
			Code: "missing_checkout_id", Message: "no checkout id to submit", Action: provider.ActionFixInput}
	}
	secrets := []string{req.PaymentRef}
	ip := shopperIP(req.ShopperIP)
	if err := c.checkPaymentSession(ctx, req.CartID, ip, secrets); err != nil {
		return provider.Submission{}, c.decide(ctx, req.CartID, err)
	}
	var o order
	err := c.do(ctx, call{
		op: "POST /orders", kind: kindSubmit, method: http.MethodPost, path: "/orders",
		body: orderRequest{CheckoutID: req.CartID}, checkoutID: req.CartID, secrets: secrets, shopperIP: ip,
	}, &o)
	if err != nil {
		return provider.Submission{}, c.decide(ctx, req.CartID, err)
	}
	return provider.Submission{CartID: req.CartID, Orders: []provider.MerchantOrder{{
		Merchant: Name, OrderID: o.ID, Status: o.State,
	}}}, nil
}

// needsLookup reports whether err refuses an existing checkout in a way whose meaning depends on
// whether the checkout already became an order: a 4xx other than 401, 403, 408 and 429, and the
// payment session gate. Outcome-unknown, retryable and rate-limited answers are left as they are.
func needsLookup(pe *provider.Error) bool {
	if pe.Code == CodePaymentSessionNotReady {
		return true
	}
	switch pe.HTTPStatus {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return pe.HTTPStatus >= 400 && pe.HTTPStatus < 500 && pe.Class != provider.ClassOutcomeUnknown
}

// decide finishes the classification of err, a refusal concerning checkout checkoutID: if its
// meaning depends on whether the checkout was consumed, it looks the checkout's orders up
// (GET /orders?checkoutId=) first. An existing order, in any state, makes it ClassAlreadySubmitted;
// none leaves the answer's class, except that a 404 (no such checkout, and no order for it) needs
// a person (ActionInvestigate). If the lookup fails nothing is decided: a retryable or rate-limited
// lookup error is returned as such (call again), any other as ClassNotRetryable, ActionInvestigate.
func (c *Client) decide(ctx context.Context, checkoutID string, err error) error {
	var pe *provider.Error
	if !errors.As(err, &pe) || !needsLookup(pe) {
		return err
	}
	orders, lerr := c.ordersOf(ctx, checkoutID)
	if lerr != nil {
		var le *provider.Error
		errors.As(lerr, &le)
		out := *le
		out.Message = clean(fmt.Sprintf("%s: %s; then looking the checkout's orders up failed, so nothing is decided: %s",
			pe.Op, pe.Message, le.Message), maxMessageLen, nil)
		if le.Class != provider.ClassRetryable && le.Class != provider.ClassRateLimited {
			out.Class, out.Action = provider.ClassNotRetryable, provider.ActionInvestigate
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "digitalriver: refusal left undecided, the order lookup failed",
			slog.String("checkout", checkoutID), slog.String("refusal", pe.Error()), slog.String("lookup", le.Error()))
		return &out
	}
	if len(orders) > 0 {
		o := orders[0]
		out := *pe
		out.Class, out.Action, out.Retryable = provider.ClassAlreadySubmitted, provider.ActionNone, nil
		out.Message = clean(fmt.Sprintf("checkout already has order %s (state %s); the refusal was: %s",
			o.ID, o.State, pe.Message), maxMessageLen, nil)
		c.log.LogAttrs(ctx, slog.LevelInfo, "digitalriver: refused checkout was already consumed by an order",
			slog.String("checkout", checkoutID), slog.String("order", o.ID), slog.Int("status", pe.HTTPStatus))
		return &out
	}
	if pe.HTTPStatus == http.StatusNotFound {
		out := *pe
		out.Class, out.Action = provider.ClassNotRetryable, provider.ActionInvestigate
		out.Message = clean("no such checkout and no order for it: "+pe.Message, maxMessageLen, nil)
		return &out
	}
	return pe
}

// checkPaymentSession is the gate the seed recommends before POST /orders.
func (c *Client) checkPaymentSession(ctx context.Context, checkoutID, ip string, secrets []string) error {
	const op = "GET /checkouts/{id}"
	var co checkout
	var reqID string
	err := c.do(ctx, call{
		op: op, kind: kindCheckout, method: http.MethodGet, path: "/checkouts/" + url.PathEscape(checkoutID),
		checkoutID: checkoutID, secrets: secrets, requestID: &reqID, shopperIP: ip,
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
	orders, err := c.ordersOf(ctx, cartID)
	if err != nil {
		return provider.Placement{}, err
	}
	return placementOf(cartID, orders), nil
}

// ordersOf returns the orders made from checkout checkoutID: GET /orders?checkoutId= (the
// documented list filter "Only return orders for the given checkout"). Orders naming another
// checkout are dropped, in case a server ignored the filter; orders without a checkoutId are kept,
// because counting an unrelated order as this checkout's can only delay (poll), while missing
// this checkout's order could charge twice.
func (c *Client) ordersOf(ctx context.Context, checkoutID string) ([]order, error) {
	var list orderList
	err := c.do(ctx, call{
		op: "GET /orders", kind: kindRead, method: http.MethodGet, path: "/orders",
		query: url.Values{"checkoutId": {checkoutID}}, checkoutID: checkoutID,
	}, &list)
	if err != nil {
		return nil, err
	}
	orders := list.Data[:0:0]
	for _, o := range list.Data {
		if o.CheckoutID == "" || o.CheckoutID == checkoutID {
			orders = append(orders, o)
		}
	}
	if len(orders) > 1 {
		c.log.LogAttrs(ctx, slog.LevelError, "digitalriver checkout has more than one order",
			slog.String("checkout", checkoutID), slog.Int("orders", len(orders)))
	}
	return orders, nil
}

// CheckoutPatch is a change to a checkout for the fix-and-resubmit path (a non-409 4xx on POST
// /orders): ShipTo is sent as shipTo, BillTo as billTo, Email as the checkout's email; nil and
// empty fields are left unchanged. It has no items on purpose: Digital River only lets an update
// change a line item's subscription, ship from and metadata, anything else is 400 ("Describing
// line items", section "Updating items"); changed items need a new checkout.
type CheckoutPatch = provider.CheckoutPatch

// UpdateCheckout applies patch to checkout checkoutID (POST /checkouts/{id}). A refusal is decided
// after the checkout's orders were looked up (see the package doc): an existing order is
// ClassAlreadySubmitted; otherwise a 4xx is ClassNotRetryable, ActionFixCheckout (404:
// ActionInvestigate). 5xx and network errors are ClassRetryable (an update is idempotent).
func (c *Client) UpdateCheckout(ctx context.Context, checkoutID string, patch CheckoutPatch) error {
	body := checkoutUpdate{Email: patch.Email}
	if patch.ShipTo != nil {
		body.ShipTo = contactOf(*patch.ShipTo)
	}
	if patch.BillTo != nil {
		body.BillTo = contactOf(*patch.BillTo)
	}
	err := c.do(ctx, call{
		op: "POST /checkouts/{id}", kind: kindCheckout, method: http.MethodPost,
		path: "/checkouts/" + url.PathEscape(checkoutID), body: body, checkoutID: checkoutID,
	}, nil)
	return c.decide(ctx, checkoutID, err)
}

// AttachSource makes sourceID the primary payment source of checkout checkoutID
// (POST /checkouts/{id}/sources/{sourceId}). sourceID is a secret: it never appears in errors or
// logs. A refusal is decided after the checkout's orders were looked up: an existing order is
// ClassAlreadySubmitted; otherwise a 4xx is ClassNotRetryable, ActionNewPaymentMethod (404:
// ActionInvestigate). 5xx and network errors are ClassRetryable.
func (c *Client) AttachSource(ctx context.Context, checkoutID, sourceID string) error {
	const op = "POST /checkouts/{id}/sources/{sourceId}"
	if sourceID == "" {
		return &provider.Error{Class: provider.ClassNotRetryable, Op: op, Code: "missing_source",
			Message: "no payment source to attach", Action: provider.ActionNewPaymentMethod}
	}
	err := c.do(ctx, call{
		op: op, kind: kindAttach, method: http.MethodPost,
		path:       "/checkouts/" + url.PathEscape(checkoutID) + "/sources/" + url.PathEscape(sourceID),
		checkoutID: checkoutID, secrets: []string{sourceID, url.PathEscape(sourceID)},
	}, nil)
	return c.decide(ctx, checkoutID, err)
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
	shopperIP  string   // the end customer's IP, sent as "forwarded: for=..." when set
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
	upstreamID := newUpstreamID()
	req.Header.Set(UpstreamIDHeader, upstreamID)
	req.Header.Set("upstream-application-id", c.appID)
	if cl.shopperIP != "" {
		req.Header.Set("forwarded", forwardedFor(cl.shopperIP))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		perr := transportError(cl.op, cl.kind, sent.Load(), err, secrets...)
		perr.RequestID = upstreamID
		c.logCall(ctx, cl, start, 0, upstreamID, perr)
		return perr
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	reqID := requestID(resp.Header, secrets)
	if reqID == "" {
		reqID = upstreamID // Digital River documents no response request id; ours is searchable there
	}
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

// UpstreamIDHeader is the request header carrying the id the client gives every request
// ("upstream-id" in "API structure").
const UpstreamIDHeader = "upstream-id"

func newUpstreamID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "of_" + hex.EncodeToString(b[:])
}

// forwardedFor is the RFC 7239 forwarded header for ip ("for=198.51.100.17"; IPv6 quoted and bracketed).
func forwardedFor(ip string) string {
	if strings.Contains(ip, ":") {
		return `for="[` + ip + `]"`
	}
	return "for=" + ip
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
