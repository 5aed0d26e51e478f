package rye

import (
	"net/http"
	"strings"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
)

type submitInput struct {
	cartID  string
	token   string
	billing *billingAddress
}

// storeFailure is a store-level submission error and its retryable flag (nil = absent).
type storeFailure struct {
	code, msg string
	retryable *bool
}

// submit implements submitCart. The order of checks is the contract documented in doc.go:
// probabilistic fault, shopper IP, lookup, timeout-lost, already submitted, expiry, cart-level validation,
// store checks, payment, then the commit (charge, ledger, placement), then timeouts.
// A submission is all or nothing: the cart is charged and moved to placement only when every
// store passes, so one cart is one ledger entry.
func (s *Server) submit(rs *reqState, in submitInput) (*submitCartResultRes, error) {
	if s.roll(s.cfg.FaultRate) {
		rs.setStatus(http.StatusServiceUnavailable)
		return nil, errAnsweredWithStatus
	}
	notRetryable := boolPtr(false)
	cartErr := func(code, msg string) *codeMessage { return &codeMessage{Code: code, Message: msg} }

	if strings.TrimSpace(rs.shopperIP) == "" {
		rs.setRetryable(notRetryable)
		return &submitCartResultRes{
			Cart:   &submitCartRes{ID: graphql.ID(in.cartID), Stores: []*submitStoreRes{}},
			Errors: []*codeMessage{cartErr("SHOPPER_IP_IS_REQUIRED", "the "+HeaderShopperIP+" header is required")},
		}, nil
	}

	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[in.cartID]
	if !ok {
		rs.setRetryable(notRetryable)
		return nil, &gqlError{code: "CART_NOT_FOUND", msg: "no cart with this id", retryable: notRetryable}
	}
	c.submitCalls++
	call := c.submitCalls

	if call == 1 && !c.submitted && c.hasScenario(scenarioTimeoutLost) {
		rs.setStatus(http.StatusServiceUnavailable)
		return nil, errAnsweredWithStatus
	}

	res := &submitCartResultRes{Cart: &submitCartRes{ID: graphql.ID(c.id)}, Errors: []*codeMessage{}}
	storeResults := func(status string, errs map[*store][]*codeMessage) []*submitStoreRes {
		out := make([]*submitStoreRes, 0, len(c.stores))
		for _, st := range c.stores {
			var orderID *graphql.ID
			if c.submitted {
				id := graphql.ID(st.orderID)
				orderID = &id
			}
			e := errs[st]
			stStatus := status
			if e == nil {
				e = []*codeMessage{}
			} else {
				stStatus = "FAILED"
			}
			out = append(out, &submitStoreRes{Store: st.name, OrderID: orderID, IsSubmitted: c.submitted, Status: stStatus, Errors: e})
		}
		return out
	}

	// Cart-level validation: never retryable.
	if c.submitted {
		res.Errors = append(res.Errors, cartErr("ALREADY_SUBMITTED", "this cart was already submitted; create a new cart to replace failed orders"))
		res.Cart.Stores = storeResults("COMPLETED", nil)
		rs.setRetryable(notRetryable)
		return res, nil
	}
	if now.Sub(c.createdAt) > s.cfg.CartTTL {
		rs.setRetryable(notRetryable)
		return nil, &gqlError{code: "CART_EXPIRED_ERROR", msg: "cart expired: carts can be submitted for " + s.cfg.CartTTL.String() + " after creation", retryable: notRetryable}
	}
	if len(c.stores) == 0 {
		res.Errors = append(res.Errors, cartErr("CART_IS_EMPTY", "the cart has no items"))
	}
	res.Errors = append(res.Errors, validateBuyer(c.buyer)...)
	if b := in.billing; b != nil && len(b.CountryCode) != 2 {
		res.Errors = append(res.Errors, cartErr("BILLING_ADDRESS_INVALID_COUNTRY", "billing countryCode must be an ISO 3166-1 alpha-2 code"))
	}
	if len(res.Errors) > 0 {
		res.Cart.Stores = storeResults("FAILED", nil)
		rs.setRetryable(notRetryable)
		return res, nil
	}

	// Store checks.
	failures := map[*store][]*codeMessage{}
	var flags []*bool
	fail := func(st *store, f storeFailure) {
		failures[st] = append(failures[st], &codeMessage{Code: f.code, Message: f.msg})
		flags = append(flags, f.retryable)
	}
	for _, st := range c.stores {
		if c.buyer.postalCode() == undeliverablePostal {
			fail(st, storeFailure{"UNDELIVERABLE", "the merchant does not ship to the buyer's address", notRetryable})
			continue
		}
		if f, ok := s.storeCheck(st, call); ok {
			fail(st, f)
		}
	}
	if len(failures) == 0 && in.token == tokenDeclined {
		for _, st := range c.stores {
			fail(st, storeFailure{"PAYMENT_FAILED", "the payment method was declined", notRetryable})
		}
	}
	if len(failures) > 0 {
		res.Cart.Stores = storeResults("PENDING", failures)
		rs.setRetryable(combineRetryable(flags))
		return res, nil
	}

	// Commit: capture payment, queue placement, record the ledger entry.
	c.submitted, c.submittedAt, c.charged = true, now, in.token != ""
	allFail := true
	for _, st := range c.stores {
		st.outcome = s.placementOutcome(st, in.token)
		if st.outcome.kind != outcomeFailed {
			allFail = false
		}
	}
	s.ledger.Submit(c.ledgerEntry())
	if allFail {
		// Refunds are automatic when placement fails; a partly placed cart keeps its single
		// ledger entry charged, since the ledger records carts, not orders.
		id := c.id
		s.afterFunc(3*s.cfg.PlacementStep, func() { s.ledger.Refund(id) })
	}
	res.Cart.Stores = storeResults("COMPLETED", nil)
	if (call == 1 && c.hasScenario(scenarioTimeoutPlaced)) || s.roll(s.cfg.TimeoutRate) {
		rs.setStatus(http.StatusGatewayTimeout)
		return nil, errAnsweredWithStatus
	}
	return res, nil
}

// storeCheck applies a store's scenario to the submission; call counts submitCart calls of the cart.
// Called with s.mu held.
func (s *Server) storeCheck(st *store, call int) (storeFailure, bool) {
	t, f := boolPtr(true), boolPtr(false)
	switch st.scenario {
	case scenarioUnavailable:
		return storeFailure{"PRODUCTS_UNAVAILABLE", "a product is out of stock", t}, true
	case scenarioUnavailable2:
		s.productSubmits[st.scenarioProduct]++
		if s.productSubmits[st.scenarioProduct] <= 2 {
			return storeFailure{"PRODUCTS_UNAVAILABLE", "a product is out of stock", t}, true
		}
	case scenarioUpstream2:
		if call <= 2 {
			return storeFailure{"UPSTREAM_SERVICE_ERROR", "an upstream service failed", t}, true
		}
	case scenarioInternal1:
		if call == 1 {
			return storeFailure{"INTERNAL_SERVER_ERROR", "internal error", t}, true
		}
	case scenarioUnsupported:
		return storeFailure{"FEATURE_UNSUPPORTED", "the merchant does not support this checkout", f}, true
	case scenarioBadShipping:
		return storeFailure{"SUBMIT_STORE_FAILED", "the selected shipping option is invalid", f}, true
	case scenarioUnknownError:
		return storeFailure{"SUBMIT_STORE_FAILED", "the store could not be submitted", nil}, true
	}
	return storeFailure{}, false
}

// placementOutcome decides how a submitted order's placement ends. Called with s.mu held.
func (s *Server) placementOutcome(st *store, token string) outcome {
	if token == tokenInsufficientFunds {
		return outcome{kind: outcomeFailed, reasonCode: "INSUFFICIENT_FUNDS", reason: "the payment method has insufficient funds", retryable: boolPtr(false), paymentFailed: true}
	}
	switch st.scenario {
	case scenarioOOSOnce:
		if !s.restocked[st.scenarioProduct] {
			s.restocked[st.scenarioProduct] = true
			return outcome{kind: outcomeFailed, reasonCode: "OUT_OF_STOCK", reason: "a product went out of stock during placement", retryable: boolPtr(true)}
		}
	case scenarioStuck:
		return outcome{kind: outcomeStuck}
	case scenarioPlacementFailed:
		return outcome{kind: outcomeFailed, reasonCode: "MERCHANT_CONFIGURATION", reason: "the merchant's store configuration is not supported", retryable: boolPtr(false)}
	case scenarioPlacementUnknown:
		return outcome{kind: outcomeFailed, reasonCode: "INTERNAL_ERROR", reason: "placement failed for an unknown reason"}
	}
	return outcome{kind: outcomePlaced}
}

// validateBuyer returns the cart-level buyer identity errors.
func validateBuyer(b *buyerIdentity) []*codeMessage {
	if b == nil {
		return []*codeMessage{{Code: "BUYER_IDENTITY_MISSING", Message: "the cart has no buyer identity"}}
	}
	var errs []*codeMessage
	if b.Email != nil && *b.Email != "" && !strings.Contains(*b.Email, "@") {
		errs = append(errs, &codeMessage{Code: "BUYER_IDENTITY_INVALID_EMAIL", Message: "the buyer's email address is invalid"})
	}
	if len(b.CountryCode) != 2 {
		errs = append(errs, &codeMessage{Code: "BUYER_IDENTITY_INVALID_COUNTRY", Message: "countryCode must be an ISO 3166-1 alpha-2 code"})
	}
	return errs
}

// combineRetryable folds store flags into the response's one retryable extension:
// any false makes it false, else any absent makes it absent, else true.
func combineRetryable(flags []*bool) *bool {
	absent := false
	for _, f := range flags {
		switch {
		case f == nil:
			absent = true
		case !*f:
			return boolPtr(false)
		}
	}
	if absent {
		return nil
	}
	return boolPtr(true)
}
