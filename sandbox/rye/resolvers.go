package rye

import (
	"context"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// resolver is the root resolver of schema.graphql. Its result types below are plain structs
// resolved field by field (graphql.UseFieldResolvers).
type resolver struct{ s *Server }

// ---- inputs ----

type createCartArgs struct {
	Input struct {
		Items struct {
			AmazonCartItemsInput *[]struct {
				ProductID graphql.ID
				Quantity  int32
			}
			ShopifyCartItemsInput *[]struct {
				VariantID graphql.ID
				Quantity  int32
			}
		}
		BuyerIdentity *buyerIdentity
	}
}

type submitCartArgs struct {
	Input struct {
		ID                      graphql.ID
		Token                   *string
		BillingAddress          *billingAddress
		SelectedShippingOptions *[]struct {
			Store      string
			ShippingID string
		}
	}
}

type billingAddress struct {
	FirstName, LastName, Phone *string
	Address1, Address2, City   *string
	ProvinceCode, PostalCode   *string
	CountryCode                string
}

// ---- results ----

type priceRes struct {
	Value        int32
	Currency     string
	DisplayValue string
}

func usd(cents int64) *priceRes {
	return &priceRes{Value: int32(cents), Currency: "USD", DisplayValue: displayUSD(cents)}
}

type codeMessage struct {
	Code    string
	Message string
}

type cartLineRes struct {
	ProductID graphql.ID
	Quantity  int32
	Price     *priceRes
}

type storeRes struct {
	Store       string
	CartLines   []*cartLineRes
	IsSubmitted bool
	OrderID     *graphql.ID
	Errors      []*codeMessage
}

type cartCostRes struct {
	Subtotal, Tax, Shipping, Total *priceRes
}

type cartRes struct {
	ID            graphql.ID
	CreatedAt     graphql.Time
	BuyerIdentity *buyerIdentity
	Cost          *cartCostRes
	Stores        []*storeRes
}

type cartResponseRes struct {
	Cart   *cartRes
	Errors []*codeMessage
}

type submitStoreRes struct {
	Store       string
	OrderID     *graphql.ID
	IsSubmitted bool
	Status      string
	Errors      []*codeMessage
}

type submitCartRes struct {
	ID     graphql.ID
	Stores []*submitStoreRes
}

type submitCartResultRes struct {
	Cart   *submitCartRes
	Errors []*codeMessage
}

type checkoutRes struct {
	CartID graphql.ID
	Status string
	Orders []*orderRes
}

type orderRes struct {
	ID        graphql.ID
	Status    string
	Store     string
	CartLines []*cartLineRes
	Events    []*eventRes
}

// eventRes resolves the OrderEvent interface and every implementation; the To* methods
// tell graphql-go which concrete type an event is.
type eventRes struct {
	typename       string
	ID             graphql.ID
	CreatedAt      graphql.Time
	Reason         string
	ReasonCode     string
	Retryable      *bool
	Amount         *priceRes
	TrackingNumber string
	Courier        string
}

func (e *eventRes) as(t string) (*eventRes, bool) { return e, e.typename == t }

func (e *eventRes) ToOrderSubmissionStartedOrderEvent() (*eventRes, bool)   { return e.as(evStarted) }
func (e *eventRes) ToOrderSubmissionSucceededOrderEvent() (*eventRes, bool) { return e.as(evSucceeded) }
func (e *eventRes) ToOrderPlacedOrderEvent() (*eventRes, bool)              { return e.as(evPlaced) }
func (e *eventRes) ToOrderFailedOrderEvent() (*eventRes, bool)              { return e.as(evFailed) }
func (e *eventRes) ToPaymentSucceededOrderEvent() (*eventRes, bool)         { return e.as(evPaid) }
func (e *eventRes) ToPaymentFailedOrderEvent() (*eventRes, bool)            { return e.as(evPaymentFail) }
func (e *eventRes) ToPaymentRefundedOrderEvent() (*eventRes, bool)          { return e.as(evRefunded) }
func (e *eventRes) ToTrackingObtainedOrderEvent() (*eventRes, bool)         { return e.as(evTracking) }

// ---- operations ----

// CreateCart implements Mutation.createCart.
func (r *resolver) CreateCart(ctx context.Context, args createCartArgs) (*cartResponseRes, error) {
	rs := stateFrom(ctx)
	in := args.Input
	type item struct {
		store string
		sc    scenario
		id    string
		qty   int32
	}
	var items []item
	var errs []*codeMessage
	if in.Items.AmazonCartItemsInput != nil {
		for _, it := range *in.Items.AmazonCartItemsInput {
			st, sc := amazonItem(string(it.ProductID))
			items = append(items, item{st, sc, string(it.ProductID), it.Quantity})
		}
	}
	if in.Items.ShopifyCartItemsInput != nil {
		for _, it := range *in.Items.ShopifyCartItemsInput {
			st, sc := shopifyItem(string(it.VariantID))
			items = append(items, item{st, sc, string(it.VariantID), it.Quantity})
		}
	}
	for _, it := range items {
		if strings.TrimSpace(it.id) == "" || it.qty < 1 {
			errs = append(errs, &codeMessage{"INVALID_INPUT", "every item needs a product id and a quantity of at least 1"})
			break
		}
	}
	if len(errs) > 0 {
		rs.setRetryable(boolPtr(false))
		return &cartResponseRes{Errors: errs}, nil
	}

	s := r.s
	now := time.Now()
	c := &cart{id: newID("cart"), createdAt: now, orderRef: rs.orderRef, buyer: in.BuyerIdentity}
	for _, it := range items {
		c.addLine(it.store, it.sc, it.id, it.qty)
		if it.sc == scenarioExpired {
			c.createdAt = now.Add(-s.cfg.CartTTL - 24*time.Hour)
		}
	}
	s.mu.Lock()
	s.carts[c.id] = c
	view := s.cartView(c)
	s.mu.Unlock()
	return &cartResponseRes{Cart: view, Errors: []*codeMessage{}}, nil
}

// SubmitCart implements Mutation.submitCart.
func (r *resolver) SubmitCart(ctx context.Context, args submitCartArgs) (*submitCartResultRes, error) {
	in := args.Input
	token := ""
	if in.Token != nil {
		token = *in.Token
	}
	return r.s.submit(stateFrom(ctx), submitInput{
		cartID:  string(in.ID),
		token:   token,
		billing: in.BillingAddress,
	})
}

// CheckoutByCartID implements Query.checkoutByCartID.
func (r *resolver) CheckoutByCartID(args struct{ CartID graphql.ID }) (*checkoutRes, error) {
	s := r.s
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[string(args.CartID)]
	if !ok {
		return nil, &gqlError{code: "CART_NOT_FOUND", msg: "no cart with this id", retryable: boolPtr(false)}
	}
	out := &checkoutRes{CartID: graphql.ID(c.id), Orders: []*orderRes{}}
	var statuses []string
	for _, st := range c.stores {
		evs := c.events(st, s.cfg.PlacementStep, now)
		o := &orderRes{
			ID:        graphql.ID(st.orderID),
			Status:    orderStatus(evs),
			Store:     st.name,
			CartLines: linesView(st),
			Events:    make([]*eventRes, 0, len(evs)),
		}
		for _, e := range evs {
			er := &eventRes{
				typename: e.typename, ID: graphql.ID(e.id), CreatedAt: graphql.Time{Time: e.at},
				Reason: e.reason, ReasonCode: e.reasonCode, Retryable: e.retryable,
				TrackingNumber: e.trackingNumber, Courier: "UPS", Amount: usd(e.amountCents),
			}
			o.Events = append(o.Events, er)
		}
		statuses = append(statuses, o.Status)
		out.Orders = append(out.Orders, o)
	}
	out.Status = checkoutStatus(statuses)
	return out, nil
}

// cartView renders a cart. Called with s.mu held.
func (s *Server) cartView(c *cart) *cartRes {
	sub := c.subtotal()
	v := &cartRes{
		ID:            graphql.ID(c.id),
		CreatedAt:     graphql.Time{Time: c.createdAt},
		BuyerIdentity: c.buyer,
		Cost:          &cartCostRes{Subtotal: usd(sub), Tax: usd(0), Shipping: usd(0), Total: usd(sub)},
		Stores:        []*storeRes{},
	}
	for _, st := range c.stores {
		id := graphql.ID(st.orderID)
		v.Stores = append(v.Stores, &storeRes{
			Store: st.name, CartLines: linesView(st), IsSubmitted: c.submitted, OrderID: &id, Errors: []*codeMessage{},
		})
	}
	return v
}

func linesView(st *store) []*cartLineRes {
	out := make([]*cartLineRes, 0, len(st.lines))
	for _, l := range st.lines {
		out = append(out, &cartLineRes{ProductID: graphql.ID(l.productID), Quantity: l.quantity, Price: usd(l.priceCents)})
	}
	return out
}
