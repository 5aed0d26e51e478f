package ryefake

import (
	"net/http"
	"strings"
	"time"
)

type submitInput struct {
	cartID string
	token  string // "" when CartSubmitInput.token is absent: invoice billing, nothing charged
}

// storeFailure is a store-level submission error and its retryable flag (nil = absent).
type storeFailure struct {
	code, msg string
	retryable *bool
}

// Root GraphQL error codes (DOCS docs.rye.com/api-reference/root-errors), sent as
// extensions {"code": ...} and nothing else: the docs document no retryable key there.
const (
	codeCartNotFound = "CART_NOT_FOUND_ERROR"
	codeCartExpired  = "CART_EXPIRED_ERROR"
	codeInternal     = "INTERNAL_SERVER_ERROR"
	codeParse        = "GRAPHQL_PARSE_ERROR"
	codeJSONParse    = "JSON_PARSE_ERROR"
	codeUnauthorized = "UNAUTHENTICATED"
)

func errCartNotFound(id string) *gqlError {
	// Message as in the DOCS submitCart example: "Cart not found: someInvalidCartId".
	return &gqlError{code: codeCartNotFound, msg: "Cart not found: " + id}
}

// submit implements submitCart. The order of checks is the contract documented in doc.go:
// probabilistic fault, shopper IP, lookup, timeout-lost, already submitted, expiry, cart-level
// validation, store checks, payment, then the commit (charge, ledger, placement), then
// timeouts and root-internal.
//
// A submission is all or nothing: the cart is charged and moved to placement only when every
// store passes, so one cart is one ledger entry. Real Rye documents partial success instead ("a
// multi-store cart that partially succeeded can be submitted again. It has no effect on
// already submitted stores", DOCS api-reference/submitcart); the sandbox does not simulate it.
//
// The retryable flag of a failed submission goes in the response's top-level extensions
// (DOCS get-started/ordering/handling-errors: "Cart submission returns this information via a
// GraphQL extension field named retryable"). Root errors carry none (the DOCS submitCart
// example of CART_NOT_FOUND_ERROR has no extensions besides the error's code).
func (s *Server) submit(rs *reqState, in submitInput) (*submitCartResultRes, error) {
	if s.roll(s.cfg.FaultRate) {
		rs.setStatus(http.StatusServiceUnavailable)
		return nil, errAnsweredWithStatus
	}
	notRetryable := boolPtr(false)

	if strings.TrimSpace(rs.shopperIP) == "" {
		// DOCS (api-reference/submitcart) require the Rye-Shopper-IP header but do not say
		// what its absence returns. The sandbox's pick: the cart-level SUBMIT_CART_FAILED (a
		// real SubmitCartResultErrorCode), retryable false, with a message naming the header.
		rs.setRetryable(notRetryable)
		return &submitCartResultRes{
			Cart:   &submitCartDataRes{ID: gqlID(in.cartID), Stores: []*submitStoreRes{}},
			Errors: []*cartErrorRes{cartError("SUBMIT_CART_FAILED", "the "+HeaderShopperIP+" header is required")},
		}, nil
	}

	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.carts[in.cartID]
	if !ok {
		return nil, errCartNotFound(in.cartID)
	}
	c.submitCalls++
	call := c.submitCalls

	if call == 1 && !c.submitted && c.hasScenario(scenarioTimeoutLost) {
		rs.setStatus(http.StatusServiceUnavailable)
		return nil, errAnsweredWithStatus
	}

	res := &submitCartResultRes{Cart: &submitCartDataRes{ID: gqlID(c.id)}, Errors: []*cartErrorRes{}}
	storeResults := func(failures map[*store][]*codeMessage) []*submitStoreRes {
		out := make([]*submitStoreRes, 0, len(c.stores))
		for _, st := range c.stores {
			out = append(out, s.submitStoreView(rs, c, st, failures))
		}
		return out
	}

	// DOCS (api-reference/submitcart): "If the cart has been successfully submitted, an
	// attempt to submit the cart again will lead to an error" (ALREADY_SUBMITTED), retryable false.
	if c.submitted {
		res.Errors = append(res.Errors, cartError("ALREADY_SUBMITTED", "this cart was already submitted; create a new cart to replace failed orders"))
		res.Cart.Stores = storeResults(nil)
		rs.setRetryable(notRetryable)
		return res, nil
	}
	if now.Sub(c.createdAt) > s.cfg.CartTTL {
		return nil, &gqlError{code: codeCartExpired, msg: "Cart expired: carts can be submitted for " + s.cfg.CartTTL.String() + " after creation"}
	}
	// Cart-level validation (SubmitCartResultErrorCode values of SDK-2024): never retryable.
	// billingAddress needs no check here: the schema's non-null fields and Country enum
	// validate it before the resolver runs.
	if len(c.stores) == 0 {
		res.Errors = append(res.Errors, cartError("CART_IS_EMPTY", "the cart has no items"))
	}
	res.Errors = append(res.Errors, validateBuyer(c.buyer)...)
	if len(res.Errors) > 0 {
		res.Cart.Stores = storeResults(map[*store][]*codeMessage{})
		rs.setRetryable(notRetryable)
		return res, nil
	}

	// Store checks. SubmitStoreResultErrorCode values: DOCS (8 values); retryable per DOCS
	// handling-errors (PAYMENT_FAILED and UNDELIVERABLE false; PRODUCTS_UNAVAILABLE "can
	// sometimes resolve itself").
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
		res.Cart.Stores = storeResults(failures)
		rs.setRetryable(combineRetryable(flags))
		return res, nil
	}

	// Commit: capture payment (only when a token was given), queue placement, record the
	// ledger entry.
	c.submitted, c.submittedAt, c.charged = true, now, in.token != ""
	for _, st := range c.stores {
		st.outcome = s.placementOutcome(st, in.token)
	}
	s.ledger.Submit(c.ledgerEntry())
	s.scheduleRefund(c, now)
	res.Cart.Stores = storeResults(nil)
	if (call == 1 && c.hasScenario(scenarioTimeoutPlaced)) || s.roll(s.cfg.TimeoutRate) {
		rs.setStatus(http.StatusGatewayTimeout)
		return nil, errAnsweredWithStatus
	}
	if call == 1 && c.hasScenario(scenarioRootInternal) {
		// DOCS (root-errors) list INTERNAL_SERVER_ERROR ("usually transient and can be
		// retried") but not whether a submitCart answered with it took effect. The worst
		// plausible case: it did (charged, in the ledger, placing); a retry answers ALREADY_SUBMITTED.
		return nil, &gqlError{code: codeInternal, msg: "Internal server error"}
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

// placementOutcome decides how a submitted order's placement goes. Called with s.mu held.
// Reason codes are DOCS OrderFailedReasonCode values; retryable per DOCS handling-errors
// (true: intermittent; false: not, or unsafe; null: unknown).
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
	case scenario3DSPass:
		return outcome{kind: outcome3DSPass}
	case scenario3DSFail:
		return outcome{kind: outcome3DSFail, reasonCode: "PAYMENT_FAILED", reason: "the customer did not complete the payment challenge", retryable: boolPtr(false), paymentFailed: true}
	case scenario3DSAbandon:
		return outcome{kind: outcome3DSAbandon}
	case scenarioCancelled:
		return outcome{kind: outcomeCancelled}
	case scenarioRefundPartial:
		return outcome{kind: outcomeRefundPartial}
	}
	return outcome{kind: outcomePlaced}
}

// validateBuyer returns the cart-level buyer identity errors (SubmitCartResultErrorCode).
// countryCode needs no check: the Country enum validates it.
func validateBuyer(b *buyerIdentity) []*cartErrorRes {
	if b == nil {
		return []*cartErrorRes{cartError("BUYER_IDENTITY_MISSING", "the cart has no buyer identity")}
	}
	var errs []*cartErrorRes
	if b.Email != nil && *b.Email != "" && !strings.Contains(*b.Email, "@") {
		errs = append(errs, cartError("BUYER_IDENTITY_INVALID_EMAIL", "the buyer's email address is invalid"))
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

// scheduleRefund starts the timer that marks c's ledger entry refunded when every order failed
// or was cancelled: the charge is refunded when the last one ends. A partly placed cart keeps
// its single ledger entry charged (the ledger records carts). Called at submission and again
// when a 3-D Secure challenge is first shown (its answer decides the end); once per cart.
// Called with s.mu held.
func (s *Server) scheduleRefund(c *cart, now time.Time) {
	if c.refundTimed {
		return
	}
	at, ok := c.refundAt(s.cfg.PlacementStep)
	if !ok {
		return
	}
	c.refundTimed = true
	id := c.id
	s.afterFunc(at.Sub(now), func() { s.ledger.Refund(id) })
}
