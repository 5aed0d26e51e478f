package ryefake

import (
	"context"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

// resolver is the root resolver of ryeschema.SDL (Query and Mutation).
type resolver struct{ s *Server }

// ---- inputs: graphql-go needs a Go field for every field of an input type ----

type createCartArgs struct {
	Input struct {
		BuyerIdentity           *buyerIdentity
		IsEmailMarketingAllowed *bool
		Items                   struct {
			AmazonCartItemsInput *[]struct {
				ProductID graphql.ID
				Quantity  int32
			}
			ShopifyCartItemsInput *[]struct {
				Quantity  int32
				VariantID graphql.ID
			}
		}
		CartSettings *struct {
			AmazonSettings *struct{ HidePriceOnPackage *bool }
		}
		Attributes *[]struct{ Key, Value string }
	}
}

type submitCartArgs struct {
	Input struct {
		ID                      graphql.ID
		BillingAddress          *billingAddress
		SelectedShippingOptions *[]struct {
			ShippingID string
			Store      string
		}
		Token *string
	}
}

// billingAddress is BillingAddressInput; the schema makes address1, city, countryCode
// (Country enum), firstName, lastName and postalCode required, and graphql-go enforces it.
type billingAddress struct {
	Address1            string
	Address2            *string
	City                string
	CountryCode         string
	FirstName, LastName string
	Phone, ProvinceCode *string
	PostalCode          string
}

// ---- operations ----

// CreateCart implements Mutation.createCart. Nothing is charged. CartResponse.cart is
// non-null (SDK-2024), so the cart is returned even with errors. No retryable extension: DOCS
// document it for submitCart only.
func (r *resolver) CreateCart(ctx context.Context, args createCartArgs) (*cartResponseRes, error) {
	rs := stateFrom(ctx)
	s := r.s
	in := args.Input
	now := time.Now()
	c := &cart{id: newID("cart"), createdAt: now, orderRef: rs.orderRef, buyer: in.BuyerIdentity}
	if in.Attributes != nil {
		attrs := make([]*attributeRes, 0, len(*in.Attributes))
		for _, a := range *in.Attributes {
			attrs = append(attrs, &attributeRes{Key: a.Key, Value: a.Value})
		}
		c.attributes = &attrs
	}
	errs := []*cartErrorRes{}
	add := func(m marketplace, storeName, id string, qty int32) {
		sc := scenarioPrefix(id)
		switch {
		case strings.TrimSpace(id) == "" || sc == scenarioNotFound:
			// DOCS CartErrorCode PRODUCT_NOT_FOUND. Whether real Rye keeps the cart's other
			// items is not documented; the sandbox creates the cart without the missing one.
			errs = append(errs, cartError("PRODUCT_NOT_FOUND", "product not found: "+id))
			return
		case qty < 1:
			// Not documented; the sandbox's pick is STORE_OPERATION_FAILED, item left out.
			errs = append(errs, cartError("STORE_OPERATION_FAILED", "quantity of "+id+" must be at least 1"))
			return
		case sc == scenarioUnpriced:
			c.unpriced = true
		case sc == scenarioExpired:
			c.createdAt = now.Add(-s.cfg.CartTTL - 24*time.Hour)
		}
		c.addLine(m, storeName, sc, id, qty)
	}
	if items := in.Items.AmazonCartItemsInput; items != nil {
		for _, it := range *items {
			add(marketplaceAmazon, storeAmazon, string(it.ProductID), it.Quantity)
		}
	}
	if items := in.Items.ShopifyCartItemsInput; items != nil {
		for _, it := range *items {
			id := string(it.VariantID)
			add(marketplaceShopify, shopifyStoreOf(id, s.cfg.DefaultShopifyStore), id, it.Quantity)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.carts[c.id] = c
	for _, st := range c.stores {
		s.orders[st.orderID] = c
	}
	return &cartResponseRes{Cart: s.cartView(rs, c), Errors: errs}, nil
}

// SubmitCart implements Mutation.submitCart. token is optional (SDK-2024): without it nothing
// is charged (invoice billing); billingAddress is optional (SDK-2024) and validated by the
// schema; selectedShippingOptions are accepted and ignored (use "bad-shipping:").
func (r *resolver) SubmitCart(ctx context.Context, args submitCartArgs) (*submitCartResultRes, error) {
	in := args.Input
	token := ""
	if in.Token != nil {
		token = *in.Token
	}
	return r.s.submit(stateFrom(ctx), submitInput{cartID: string(in.ID), token: token})
}

// CheckoutByCartID implements Query.checkoutByCartID. An unknown cart is the root error
// CART_NOT_FOUND_ERROR (DOCS root-errors).
func (r *resolver) CheckoutByCartID(ctx context.Context, args struct{ CartID graphql.ID }) (*checkoutRes, error) {
	s := r.s
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[string(args.CartID)]
	if !ok {
		return nil, errCartNotFound(string(args.CartID))
	}
	return s.checkoutView(stateFrom(ctx), c, now), nil
}

// GetCart implements Query.getCart. An unknown cart is the root error CART_NOT_FOUND_ERROR
// (DOCS root-errors). Reading an expired cart is not documented; the sandbox answers it.
func (r *resolver) GetCart(ctx context.Context, args struct{ ID graphql.ID }) (*cartResponseRes, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[string(args.ID)]
	if !ok {
		return nil, errCartNotFound(string(args.ID))
	}
	return &cartResponseRes{Cart: s.cartView(stateFrom(ctx), c), Errors: []*cartErrorRes{}}, nil
}

// OrderByID implements Query.orderByID. What an unknown id answers is not documented; the
// schema makes the field nullable and the sandbox answers null without an error.
func (r *resolver) OrderByID(ctx context.Context, args struct{ ID graphql.ID }) (*orderRes, error) {
	s := r.s
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.orders[string(args.ID)]
	if !ok {
		return nil, nil
	}
	rs := stateFrom(ctx)
	cv := s.cartView(rs, c)
	for _, st := range c.stores {
		if st.orderID == string(args.ID) {
			return s.orderView(rs, c, st, cv, now), nil
		}
	}
	return nil, nil
}
