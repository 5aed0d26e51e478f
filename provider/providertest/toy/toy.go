// Package toy is a third checkout provider, small enough to read in one sitting: the worked
// example of ARCHITECTURE.md's "Add a provider" checklist. It is one folder (this package: the
// client, its simulator and its Descriptor) plus one line where the providers are listed;
// example_test.go adds it with that line and runs it through the conformance suite and the
// embedded service. It is no real provider and is not in providers.All.
//
// The toy API is JSON over HTTP, authenticated with "Authorization: Bearer <key>":
//
//	POST /carts             {orderRef, items}  → 201 {id, totalCents, currency}
//	POST /carts/{id}/submit {paymentRef}       → 200 {orders: [{merchant, id}]}
//	GET  /carts/{id}                           → 200 {id, submitted, orders: [{merchant, id, state, reasonCode}]}
//
// Refusals are {"code", "message", "retryable"}; retryable is absent when the API does not
// know. 409 means the cart was submitted already, 429 carries Retry-After (seconds).
package toy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/provider"
)

// Name is the toy provider's name.
const Name = "toy"

// Client is the toy provider.Provider.
type Client struct {
	base, key string
	hc        *http.Client
}

var _ provider.Provider = (*Client)(nil)

// New returns a client of the toy API at s.BaseURL.
func New(s provider.Settings) (*Client, error) {
	if s.BaseURL == "" || s.APIKey == "" {
		return nil, errors.New("toy: BaseURL and APIKey are required")
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if hc.Transport == nil { // a pool of its own, sized to the calls it carries at once
		c := *hc
		c.Transport = provider.NewTransport(s.MaxConns)
		hc = &c
	}
	return &Client{base: strings.TrimSuffix(s.BaseURL, "/"), key: s.APIKey, hc: hc}, nil
}

// Name implements provider.Provider.
func (c *Client) Name() string { return Name }

type item struct {
	Merchant   string `json:"merchant"`
	ProductID  string `json:"productId"`
	Quantity   int    `json:"quantity"`
	PriceCents int64  `json:"priceCents"`
}

type cartIn struct {
	OrderRef string `json:"orderRef"`
	Currency string `json:"currency"`
	Items    []item `json:"items"`
}

type cartOut struct {
	ID         string     `json:"id"`
	TotalCents int64      `json:"totalCents"`
	Currency   string     `json:"currency"`
	Submitted  bool       `json:"submitted"`
	Orders     []orderOut `json:"orders"`
}

type orderOut struct {
	Merchant   string `json:"merchant"`
	ID         string `json:"id"`
	State      string `json:"state"` // pending, placed, failed
	ReasonCode string `json:"reasonCode,omitempty"`
}

type refusal struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable *bool  `json:"retryable"`
}

// CreateCart implements provider.Provider with POST /carts. Nothing is charged, so a transport
// error is retryable.
func (c *Client) CreateCart(ctx context.Context, req provider.CartRequest) (provider.Cart, error) {
	in := cartIn{OrderRef: req.OrderRef, Currency: req.Currency}
	var merchants []string
	for _, it := range req.Items {
		in.Items = append(in.Items, item{it.Merchant, it.ProductID, it.Quantity, it.PriceCents})
		if len(merchants) == 0 || merchants[len(merchants)-1] != it.Merchant {
			merchants = append(merchants, it.Merchant)
		}
	}
	var out cartOut
	if err := c.do(ctx, "createCart", http.MethodPost, "/carts", in, &out, false); err != nil {
		return provider.Cart{}, err
	}
	return provider.Cart{ID: out.ID, TotalCents: out.TotalCents, Currency: out.Currency, TotalKnown: true,
		CreatedAt: time.Now().UTC(), Merchants: merchants}, nil
}

// Submit implements provider.Provider with POST /carts/{id}/submit: the charging call, so a
// transport error or a 5xx that does not say it was refused is ClassOutcomeUnknown.
func (c *Client) Submit(ctx context.Context, req provider.SubmitRequest) (provider.Submission, error) {
	var out cartOut
	err := c.do(ctx, "submitCart", http.MethodPost, "/carts/"+url.PathEscape(req.CartID)+"/submit",
		map[string]string{"paymentRef": req.PaymentRef}, &out, true)
	if err != nil {
		return provider.Submission{}, err
	}
	sub := provider.Submission{CartID: req.CartID}
	for _, o := range out.Orders {
		sub.Orders = append(sub.Orders, provider.MerchantOrder{Merchant: o.Merchant, OrderID: o.ID, Status: o.State})
	}
	return sub, nil
}

// Status implements provider.Provider with GET /carts/{id}, in the port's vocabulary: an
// unsubmitted cart is one order without events; pending is started; placed and failed end it.
func (c *Client) Status(ctx context.Context, cartID string) (provider.Placement, error) {
	var out cartOut
	if err := c.do(ctx, "getCart", http.MethodGet, "/carts/"+url.PathEscape(cartID), nil, &out, false); err != nil {
		return provider.Placement{}, err
	}
	p := provider.Placement{CartID: cartID}
	if !out.Submitted {
		p.Orders = []provider.OrderPlacement{{}}
		return p, nil
	}
	for _, o := range out.Orders {
		op := provider.OrderPlacement{Merchant: o.Merchant, OrderID: o.ID, Status: o.State,
			Events: []provider.Event{{Type: provider.EventSubmissionStarted, ID: o.ID + "/started"}}}
		switch o.State {
		case "placed":
			op.Events = append(op.Events, provider.Event{Type: provider.EventPlaced, ID: o.ID + "/placed"})
		case "failed":
			op.Events = append(op.Events, provider.Event{Type: provider.EventFailed, ID: o.ID + "/failed",
				Reason: "order failed: " + o.ReasonCode, ReasonCode: o.ReasonCode, Retryable: provider.Bool(false),
				Action: PlacementAction(o.ReasonCode)})
		}
		p.Orders = append(p.Orders, op)
	}
	return p, nil
}

// PlacementAction maps a failed order's reason code to what a person must do.
func PlacementAction(code string) provider.Action {
	if code == "card_declined" {
		return provider.ActionNewPaymentMethod
	}
	return provider.ActionInvestigate
}

// do sends one call and classifies its failure. charges marks the call that may charge.
func (c *Client) do(ctx context.Context, op, method, path string, in, out any, charges bool) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &provider.Error{Class: provider.ClassNotRetryable, Op: op, Message: err.Error(), Action: provider.ActionFixInput}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return &provider.Error{Class: provider.ClassNotRetryable, Op: op, Message: "building the request", Action: provider.ActionFixInput}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		class := provider.ClassRetryable
		if charges {
			class = provider.ClassOutcomeUnknown // it may have been sent and taken effect
		}
		return &provider.Error{Class: class, Op: op, Message: "transport error"} // the URL error may hold the request: not quoted
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return &provider.Error{Class: provider.ClassRetryable, Op: op, HTTPStatus: resp.StatusCode, Message: "unreadable answer"}
		}
		return nil
	}
	var r refusal
	_ = json.Unmarshal(b, &r)
	pe := &provider.Error{Op: op, Code: r.Code, Message: r.Message, Retryable: r.Retryable, HTTPStatus: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		pe.Class, pe.RetryAfter = provider.ClassRateLimited, time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			pe.RetryAfter = time.Duration(s) * time.Second
		}
	case resp.StatusCode == http.StatusConflict:
		pe.Class = provider.ClassAlreadySubmitted
	case r.Retryable != nil && *r.Retryable:
		pe.Class = provider.ClassRetryable
	case r.Retryable != nil:
		pe.Class, pe.Action = provider.ClassNotRetryable, provider.ActionFixInput
		if r.Code == "card_declined" {
			pe.Action = provider.ActionNewPaymentMethod
		}
	case charges && resp.StatusCode >= 500:
		pe.Class = provider.ClassOutcomeUnknown
	default:
		pe.Class, pe.Action = provider.ClassUnknownRetryability, provider.ActionInvestigate
	}
	return pe
}
