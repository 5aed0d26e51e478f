package rye

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Khan/genqlient/graphql"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye/internal/ryegql"
	"github.com/orderflow/orderflow/provider/rye/internal/ryeopen"
)

// Name is the provider's stable identifier.
const Name = "rye"

// amazonStore is AmazonStore.store, "always equal to amazon" (docs.rye.com); orderflow's
// request items name it as their merchant.
const amazonStore = "amazon"

const (
	queryPath       = "/v1/query"
	headerShopperIP = "Rye-Shopper-IP"
	// headerOrderRef correlates a cart with an order attempt in the sandbox's ledger; Rye ignores it.
	headerOrderRef = "Orderflow-Order-Ref"
)

// Config configures a Client.
type Config struct {
	// BaseURL is Rye's base URL; the client posts to BaseURL + "/v1/query". Required.
	BaseURL string
	// APIKey is sent as "Authorization: Basic <APIKey>". Required; never logged.
	APIKey string
	// HTTPClient carries the requests; its Transport is wrapped, not modified.
	// Default: a client with a 30s timeout. A nil Transport (the default client's included) is
	// provider.NewTransport(MaxConns), this client's own pool of keep-alive connections.
	HTTPClient *http.Client
	// MaxConns sizes that transport's idle connections per host: the calls carried at once.
	// 0: provider.DefaultMaxConns.
	MaxConns int
	// Logger receives one debug line per operation. Default: discard.
	Logger *slog.Logger
}

// Validate reports a missing or malformed field.
func (c Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("BaseURL is required"))
	} else if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("BaseURL %q is not an http(s) URL", c.BaseURL))
	}
	if c.APIKey == "" {
		errs = append(errs, errors.New("APIKey is required"))
	}
	return errors.Join(errs...)
}

// Client is the Rye implementation of provider.Provider. It is safe for concurrent use.
type Client struct {
	apiKey string
	gql    graphql.Client
	log    *slog.Logger
	seen   sync.Map // logOnce keys
}

var _ provider.Provider = (*Client)(nil)

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating rye config: %w", err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	base := hc.Transport
	if base == nil {
		base = provider.NewTransport(cfg.MaxConns)
	}
	hc.Transport = &transport{base: base, apiKey: cfg.APIKey}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	endpoint := strings.TrimSuffix(cfg.BaseURL, "/") + queryPath
	return &Client{
		apiKey: cfg.APIKey,
		gql:    capturingClient{graphql.NewClient(endpoint, hc)},
		log:    log,
	}, nil
}

// capturingClient records the response's top-level extensions (where Rye puts retryable)
// into the call's exchange: genqlient's generated functions decode but do not return them.
type capturingClient struct{ inner graphql.Client }

func (c capturingClient) MakeRequest(ctx context.Context, req *graphql.Request, resp *graphql.Response) error {
	err := c.inner.MakeRequest(ctx, req, resp)
	if ex := exchangeFrom(ctx); ex != nil {
		ex.mu.Lock()
		ex.extensions = resp.Extensions
		ex.mu.Unlock()
	}
	return err
}

// Name implements provider.Provider.
func (c *Client) Name() string { return Name }

// CreateCart implements provider.Provider with Rye createCart. Items of merchant "amazon" are
// Amazon products (productId = the ASIN); any other merchant's items are Shopify variants whose
// ProductID is sent verbatim as the plain variant id: Rye resolves the store itself
// (ShopifyCartItemsInput.variantId, ryeschema). Rye prices the cart itself: Item.PriceCents is
// not sent. Only USD is supported.
func (c *Client) CreateCart(ctx context.Context, req provider.CartRequest) (provider.Cart, error) {
	if req.Currency != "" && !strings.EqualFold(req.Currency, "USD") {
		return provider.Cart{}, errorf(opCreateCart, provider.ClassNotRetryable, provider.ActionFixInput,
			"UNSUPPORTED_CURRENCY", "rye carts are priced in USD, not %s", req.Currency)
	}
	in := ryegql.CartCreateInput{BuyerIdentity: buyerInput(req.Buyer)}
	for _, it := range req.Items {
		if strings.EqualFold(it.Merchant, amazonStore) {
			in.Items.AmazonCartItemsInput = append(in.Items.AmazonCartItemsInput,
				ryegql.AmazonCartItemsInput{ProductId: it.ProductID, Quantity: it.Quantity})
			continue
		}
		in.Items.ShopifyCartItemsInput = append(in.Items.ShopifyCartItemsInput,
			ryegql.ShopifyCartItemsInput{VariantId: it.ProductID, Quantity: it.Quantity})
	}

	ex := &exchange{op: opCreateCart, orderRef: req.OrderRef}
	start := time.Now()
	resp, err := ryegql.CreateCart(withExchange(ctx, ex), c.gql, in)
	var dataErrs []apiError
	if resp != nil {
		for _, e := range resp.CreateCart.Errors {
			dataErrs = append(dataErrs, apiError{code: string(e.Code), message: e.Message})
		}
	}
	pe := classify(opCreateCart, ex, err, dataErrs, c.apiKey, req.PaymentRef)
	if pe == nil && resp.CreateCart.Cart.Id == "" {
		pe = malformed(opCreateCart, ex, "createCart answered without a cart", c.apiKey, req.PaymentRef)
	}
	c.logCall(ctx, opCreateCart, ex, start, pe, req.PaymentRef, "order_ref", req.OrderRef)
	if pe != nil {
		return provider.Cart{}, pe
	}
	cart := resp.CreateCart.Cart
	out := provider.Cart{ID: cart.Id, CreatedAt: cart.CreatedAt}
	// Cart.cost and CartCost.total are nullable (ryeschema): a null total is unknown, not zero.
	if cart.Cost != nil && cart.Cost.Total != nil {
		out.TotalCents, out.Currency, out.TotalKnown = int64(cart.Cost.Total.Value), string(cart.Cost.Total.Currency), true
	}
	for _, s := range cart.Stores {
		out.Merchants = append(out.Merchants, c.storeName(ctx, s))
	}
	return out, nil
}

// Submit implements provider.Provider with Rye submitCart. PaymentRef is the payment token,
// sent only when the order carries one (the seed: "if you passed us a payment method"; current
// docs dropped the field, the 2024 schema has it optional); without it Rye bills the account
// (invoice billing). Billing is sent as billingAddress when it has every field Rye requires
// (BillingAddressInput: address1, city, countryCode, firstName, lastName, postalCode).
//
// A response that submitted some stores and failed others is returned as both a Submission
// and a ClassOutcomeUnknown error: poll Status, never resubmit blindly.
func (c *Client) Submit(ctx context.Context, req provider.SubmitRequest) (provider.Submission, error) {
	if req.CartID == "" {
		return provider.Submission{}, errorf(opSubmitCart, provider.ClassNotRetryable, provider.ActionFixInput,
			"INVALID_INPUT", "a cart id is required")
	}
	ex := &exchange{op: opSubmitCart, shopperIP: req.ShopperIP}
	start := time.Now()
	in := ryegql.CartSubmitInput{Id: req.CartID, Token: req.PaymentRef, BillingAddress: billingInput(req.Billing)}
	resp, err := ryegql.SubmitCart(withExchange(ctx, ex), c.gql, in)

	sub := provider.Submission{CartID: req.CartID}
	var dataErrs []apiError
	submitted, stores := 0, 0
	if resp != nil {
		r := resp.SubmitCart
		for _, e := range r.Errors {
			dataErrs = append(dataErrs, apiError{code: string(e.Code), message: e.Message})
		}
		for _, s := range r.Cart.Stores {
			stores++
			if s.IsSubmitted {
				submitted++
			}
			name := c.storeName(ctx, s.Store)
			for _, e := range s.Errors {
				dataErrs = append(dataErrs, apiError{code: string(e.Code), message: name + ": " + e.Message})
			}
			// status is deprecated and nullable: "" is unknown. orderId is the documented id;
			// requestId its deprecated alias on older servers.
			sub.Orders = append(sub.Orders, provider.MerchantOrder{Merchant: name, OrderID: firstNonEmpty(s.OrderId, s.RequestId), Status: string(s.Status)})
		}
	}
	pe := classify(opSubmitCart, ex, err, dataErrs, c.apiKey, req.PaymentRef)
	switch {
	case pe == nil && (stores == 0 || submitted < stores):
		pe = malformed(opSubmitCart, ex, "submitCart reported no error but did not submit every store", c.apiKey, req.PaymentRef)
		pe.Class, pe.Code, pe.Action = provider.ClassUnknownRetryability, CodeNotSubmitted, provider.ActionInvestigate
	case pe != nil && pe.Class != provider.ClassAlreadySubmitted && submitted > 0:
		// Part of the cart was submitted (and charged): resubmitting is not a decision to take here.
		pe.Class, pe.Action = provider.ClassOutcomeUnknown, provider.ActionNone
		pe.Message = "partially submitted: " + pe.Message
	}
	c.logCall(ctx, opSubmitCart, ex, start, pe, req.PaymentRef, "cart_id", req.CartID, "order_ref", req.OrderRef)
	if pe != nil {
		if submitted > 0 {
			return sub, pe
		}
		return provider.Submission{}, pe
	}
	return sub, nil
}

// Status implements provider.Provider with Rye checkoutByCartID. An order is tied to its store
// only through Checkout.cart.stores[].orderId (requestId on older servers): Order has no store
// field (ryeschema). The order's items are that store's cart lines, ids exactly as sent.
// Events of a type this client does not know are left out (and logged once per type), so a
// type Rye adds later never makes a placement unreadable.
func (c *Client) Status(ctx context.Context, cartID string) (provider.Placement, error) {
	ex := &exchange{op: opCheckout}
	start := time.Now()
	resp, err := ryegql.CheckoutByCartID(withExchange(ctx, ex), c.gql, cartID)
	pe := classify(opCheckout, ex, err, nil, c.apiKey)
	if pe == nil && resp.CheckoutByCartID == nil {
		pe = malformed(opCheckout, ex, "checkoutByCartID answered null without an error", c.apiKey)
		pe.Class, pe.Action = provider.ClassRetryable, provider.ActionNone
	}
	c.logCall(ctx, opCheckout, ex, start, pe, "", "cart_id", cartID)
	if pe != nil {
		return provider.Placement{}, pe
	}
	co := resp.CheckoutByCartID
	byOrder := map[string]ryeopen.Store{}
	for _, s := range co.Cart.Stores {
		for _, id := range []string{s.OrderID, s.RequestID} {
			if id != "" {
				byOrder[id] = s
			}
		}
	}
	p := provider.Placement{CartID: cartID}
	for _, o := range co.Orders {
		op := provider.OrderPlacement{OrderID: o.Id, Status: string(o.Status)}
		if s, ok := byOrder[o.Id]; ok {
			op.Merchant = c.storeName(ctx, s)
			for _, l := range s.CartLines {
				op.Items = append(op.Items, provider.Item{Merchant: op.Merchant, ProductID: l.ID(), Quantity: l.Quantity})
			}
		}
		op.RequiredActions = requiredActions(string(o.Status), o.RequiredActions)
		for _, e := range o.Events {
			ev, ok := eventOf(e)
			if !ok {
				c.logOnce(ctx, "event:"+e.Typename, "ignoring an order event of a type this client does not know", "type", e.Typename, "cart_id", cartID)
				continue
			}
			op.Events = append(op.Events, ev)
		}
		p.Orders = append(p.Orders, op)
	}
	return p, nil
}

// storeName is a Store union member's store: "amazon" for AmazonStore, the shop's domain for
// ShopifyStore. A member of a type this client does not know is logged once; its store field
// is still used when it has one.
func (c *Client) storeName(ctx context.Context, s ryeopen.Store) string {
	if s.Typename != "" && s.Typename != "AmazonStore" && s.Typename != "ShopifyStore" {
		c.logOnce(ctx, "store:"+s.Typename, "reading a store of a type this client does not know", "type", s.Typename)
	}
	return s.Store
}

// logOnce logs msg the first time key is seen by this client.
func (c *Client) logOnce(ctx context.Context, key, msg string, attrs ...any) {
	if _, seen := c.seen.LoadOrStore(key, true); !seen {
		c.log.WarnContext(ctx, "rye: "+msg, attrs...)
	}
}

// logCall logs one operation. Header values are server-controlled, so they are redacted too.
func (c *Client) logCall(ctx context.Context, op string, ex *exchange, start time.Time, pe *provider.Error, token string, attrs ...any) {
	_, _, status, header, _ := ex.snapshot()
	secrets := []string{c.apiKey, token}
	attrs = append(attrs, "op", op, "http_status", status, "duration", time.Since(start),
		"request_id", redact(requestID(header), secrets),
		"ratelimit_remaining", redact(header.Get("Ratelimit-Remaining"), secrets))
	if pe != nil {
		attrs = append(attrs, "class", pe.Class.String(), "code", pe.Code)
	}
	c.log.DebugContext(ctx, "rye call", attrs...)
}

func malformed(op string, ex *exchange, msg string, secrets ...string) *provider.Error {
	_, _, status, header, _ := ex.snapshot()
	pe := &provider.Error{Op: op, Code: CodeMalformedResponse, Message: msg, HTTPStatus: status, RequestID: redact(requestID(header), secrets)}
	pe.Class, pe.Action = provider.ClassUnknownRetryability, provider.ActionInvestigate
	return pe
}

func buyerInput(b provider.Buyer) *ryegql.BuyerIdentityInput {
	if b == (provider.Buyer{}) {
		return nil
	}
	return &ryegql.BuyerIdentityInput{
		FirstName: b.FirstName, LastName: b.LastName, Email: b.Email, Phone: b.Phone,
		Address1: b.Address1, Address2: b.Address2, City: b.City,
		ProvinceCode: b.ProvinceCode, PostalCode: b.PostalCode, CountryCode: ryegql.Country(b.CountryCode),
	}
}

// billingInput is the billingAddress for b, or nil when b lacks a field BillingAddressInput
// requires (sending "" for a required field would fail Rye's validation of the whole request).
func billingInput(b *provider.Buyer) *ryegql.BillingAddressInput {
	if b == nil || b.Address1 == "" || b.City == "" || b.CountryCode == "" || b.FirstName == "" || b.LastName == "" || b.PostalCode == "" {
		return nil
	}
	return &ryegql.BillingAddressInput{
		FirstName: b.FirstName, LastName: b.LastName, Phone: b.Phone,
		Address1: b.Address1, Address2: b.Address2, City: b.City,
		ProvinceCode: b.ProvinceCode, PostalCode: b.PostalCode, CountryCode: ryegql.Country(b.CountryCode),
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
