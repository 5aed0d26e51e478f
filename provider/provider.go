// Package provider is the only face of a checkout provider that the processor sees.
//
// A Provider turns an order attempt into a cart (Rye) or checkout (Digital River), submits it,
// and reports placement per merchant order. Every failure is returned as a *Error whose Class
// tells the caller what it may do next; the processor branches on Class, never on provider codes.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Provider is a checkout provider.
//
// Error contract: every method returns nil or an error that errors.As can turn into *Error.
// Transport errors that happen before a request left the process are ClassRetryable;
// a timeout or 5xx after Submit sent its request is ClassOutcomeUnknown and must be resolved
// by Status, never by calling Submit again. The one exception is ErrNotCalled, which a
// decorator returns when its own infrastructure stopped the call before it was made.
type Provider interface {
	// Name is the provider's stable identifier, its Descriptor's Name.
	Name() string
	// CreateCart creates a new cart (Rye createCart) or checkout (Digital River POST /checkouts)
	// holding req's items for req's buyer. Nothing is charged.
	CreateCart(ctx context.Context, req CartRequest) (Cart, error)
	// Submit submits a cart created by CreateCart (Rye submitCart, Digital River POST /orders).
	// This is the call that charges the customer: the caller must have recorded cartID before it.
	Submit(ctx context.Context, req SubmitRequest) (Submission, error)
	// Status reports placement of every merchant order of a submitted cart
	// (Rye checkoutByCartID, Digital River GET /orders by checkout).
	Status(ctx context.Context, cartID string) (Placement, error)
}

// ErrNotCalled marks an error that is no answer of the provider: a decorator's infrastructure
// (the shared rate limiter's Redis) failed, or its context ended, before the call was made.
// It is never a *Error. Callers record nothing about it and retry the work later (fail closed).
var ErrNotCalled = errors.New("provider: not called")

// Buyer is who the order ships to (and, as CartRequest.Billing, who pays). Every field but
// CountryCode is optional to the provider.
type Buyer struct {
	FirstName, LastName, Email, Phone string
	Address1, Address2, City          string
	ProvinceCode, PostalCode          string
	CountryCode                       string
}

// Item is one line of an order. Merchant groups items into merchant orders; ProductID is the
// provider's product, variant or SKU id.
type Item struct {
	Merchant   string
	ProductID  string
	Quantity   int
	PriceCents int64
	// Name and SKUGroupID describe an item that is not in the provider's catalogue (Digital
	// River productDetails); an empty SKUGroupID means ProductID is a catalogue id.
	Name       string
	SKUGroupID string
	// CountryOfOrigin is where an uncatalogued item was made (Digital River productDetails);
	// empty = the client's default.
	CountryOfOrigin string
}

// CartRequest is what CreateCart needs. OrderRef ("order-id/attempt") lets the provider's
// ledger and logs tie the cart to the order; it is never used for idempotency.
type CartRequest struct {
	OrderRef string
	Buyer    Buyer
	Items    []Item
	Currency string
	// PaymentRef is an opaque payment token or source id. It is a secret: never log it.
	PaymentRef string
	// ShopperIP is the end customer's IP when known (Digital River's browserIp).
	ShopperIP string
}

// Cart is a created, not yet submitted, cart or checkout.
type Cart struct {
	ID string
	// TotalCents and Currency are the provider's total; TotalKnown is false when the provider
	// did not price the cart (Rye's Cart.cost and CartCost.total are nullable): unknown, not zero.
	TotalCents int64
	Currency   string
	TotalKnown bool
	CreatedAt  time.Time
	// Merchants lists the merchant orders placement will create, one per store.
	Merchants []string
}

// SubmitRequest is what Submit needs.
type SubmitRequest struct {
	CartID     string
	OrderRef   string
	ShopperIP  string
	PaymentRef string // secret; empty = the order carries no payment method
	// Billing is the billing address (Rye submitCart billingAddress); nil = none known.
	Billing *Buyer
}

// Submission is the synchronous answer to Submit: placement continues asynchronously.
type Submission struct {
	CartID string
	Orders []MerchantOrder
}

// MerchantOrder is one merchant's order inside a cart.
type MerchantOrder struct {
	Merchant string
	OrderID  string
	Status   string // the provider's word; "" = not reported (unknown)
}

// Placement is the asynchronous progress of a submitted cart, per merchant order.
type Placement struct {
	CartID string
	Orders []OrderPlacement
}

// OrderPlacement is one merchant order and the events seen so far, oldest first. The adapter
// speaks the port's vocabulary: event types are the Event* constants, failures carry their
// Retryable flag and Action, required actions their Action. Phase derives the tracker's
// decision from that alone; no provider word is interpreted outside its adapter.
type OrderPlacement struct {
	Merchant string
	OrderID  string
	// Status is the provider's word for the order (Rye OrderStatus, a Digital River state), for
	// people to read; "" = not reported. Nothing branches on it.
	Status string
	// Items are the order's lines as the provider reports them (ProductID exactly as sent to
	// CreateCart), when it does; nil = not reported.
	Items  []Item
	Events []Event
	// RequiredActions are what the customer must do before placement can go on (Rye
	// Order.requiredActions, e.g. a 3-D Secure challenge). An adapter whose provider says an
	// order waits for the customer without naming the action yet lists the action it means.
	RequiredActions []RequiredAction
}

// RequiredAction is one thing the customer must do for an order to proceed.
type RequiredAction struct {
	// Kind is the provider's name for it (Rye: "CompletePaymentChallenge"), for messages.
	Kind string
	// RedirectURL is where the customer completes it; "" = not given yet.
	RedirectURL string
	// Action is what a dead letter asks for when the customer does not complete it in time
	// (ActionCompletePaymentChallenge for a 3-D Secure challenge); "" = ActionInvestigate.
	Action Action
}

// Event types: the port's neutral names for placement events. Each adapter maps its
// provider's events onto them (Rye's OrderEvent __typenames in provider/rye, Digital River's
// order states in provider/digitalriver) and leaves out events it does not know.
const (
	EventSubmissionStarted   = "submission-started"
	EventSubmissionSucceeded = "submission-succeeded"
	EventPlaced              = "placed"
	EventFailed              = "failed"
	EventPaymentSucceeded    = "payment-succeeded"
	EventPaymentFailed       = "payment-failed"
	EventPaymentRefunded     = "payment-refunded"
	EventTrackingObtained    = "tracking-obtained"
	EventCancelStarted       = "cancel-started"
	EventCancelSucceeded     = "cancel-succeeded"
	EventCancelFailed        = "cancel-failed"
	EventRefundCreated       = "refund-created"
)

// Event is one placement event of a merchant order.
type Event struct {
	Type string // one of the Event* constants
	ID   string
	At   time.Time
	// Reason and ReasonCode are the provider's explanation of a failure, as sent.
	Reason     string
	ReasonCode string
	Retryable  *bool // only on EventFailed; nil means the provider did not say
	// Action is, on an EventFailed that is not retryable, what must change before the order
	// can succeed: the adapter's mapping of ReasonCode. "" = not known (ActionInvestigate).
	Action Action
}

// Phase is the state of one merchant order's placement, derived from its events.
type Phase int

const (
	PhaseNotStarted Phase = iota // no events yet
	PhaseStarted                 // only EventSubmissionStarted
	PhaseInProgress              // further along, not terminal
	PhasePlaced
	PhaseFailed
	// PhaseActionRequired: the customer must act (RequiredActions) before placement goes on.
	PhaseActionRequired
)

func (p Phase) String() string {
	switch p {
	case PhaseNotStarted:
		return "not-started"
	case PhaseStarted:
		return "started"
	case PhaseInProgress:
		return "in-progress"
	case PhasePlaced:
		return "placed"
	case PhaseFailed:
		return "failed"
	case PhaseActionRequired:
		return "action-required"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Phase derives the placement phase from the events: a failure or placement anywhere decides;
// then a required action waits for the customer; otherwise the number of events tells
// not-started, started (only EventSubmissionStarted) or in progress.
func (o OrderPlacement) Phase() Phase {
	started := false
	for _, e := range o.Events {
		switch e.Type {
		case EventFailed:
			return PhaseFailed
		case EventPlaced:
			return PhasePlaced
		case EventSubmissionStarted:
			started = true
		}
	}
	switch {
	case len(o.RequiredActions) > 0:
		return PhaseActionRequired
	case len(o.Events) == 0:
		return PhaseNotStarted
	case started && len(o.Events) == 1:
		return PhaseStarted
	}
	return PhaseInProgress
}

// Failure returns the EventFailed event, if any.
func (o OrderPlacement) Failure() (Event, bool) {
	for _, e := range o.Events {
		if e.Type == EventFailed {
			return e, true
		}
	}
	return Event{}, false
}

// RequiredAction returns what the customer must do: the first listed action with a redirect
// URL, else the first listed; false when none is listed.
func (o OrderPlacement) RequiredAction() (RequiredAction, bool) {
	for _, a := range o.RequiredActions {
		if a.RedirectURL != "" {
			return a, true
		}
	}
	if len(o.RequiredActions) > 0 {
		return o.RequiredActions[0], true
	}
	return RequiredAction{}, false
}

// Class says what a caller may do after an error.
type Class int

const (
	// ClassRetryable: the provider said the error is intermittent (retryable true); retry with backoff.
	ClassRetryable Class = iota + 1
	// ClassNotRetryable: retrying will not help or is unsafe; Action says what must change.
	ClassNotRetryable
	// ClassUnknownRetryability: the provider did not say; a human must investigate.
	ClassUnknownRetryability
	// ClassOutcomeUnknown: the request may have taken effect (timeout, 5xx after submit); poll Status.
	ClassOutcomeUnknown
	// ClassRateLimited: wait RetryAfter and try again; never counts as a failed attempt.
	ClassRateLimited
	// ClassAlreadySubmitted: the cart or checkout was already submitted or consumed; poll Status, never resubmit.
	ClassAlreadySubmitted
)

func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassNotRetryable:
		return "not-retryable"
	case ClassUnknownRetryability:
		return "retryability-unknown"
	case ClassOutcomeUnknown:
		return "outcome-unknown"
	case ClassRateLimited:
		return "rate-limited"
	case ClassAlreadySubmitted:
		return "already-submitted"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Action is what must change before a not-retryable failure can succeed.
type Action string

const (
	ActionNone             Action = ""
	ActionNewPaymentMethod Action = "new-payment-method"
	ActionNewAddress       Action = "new-address"
	ActionFixInput         Action = "fix-input"
	ActionNewCheckout      Action = "new-checkout" // Digital River 409: a new checkout with a new payment source
	ActionFixCheckout      Action = "fix-checkout" // Digital River other 4xx: update the same checkout, resubmit
	ActionNewCart          Action = "new-cart"     // the cart expired or was consumed
	ActionInvestigate      Action = "investigate"
	ActionContactProvider  Action = "contact-provider"
	// ActionCompletePaymentChallenge: the customer did not complete a required action (3-D Secure)
	// in time; they may still complete it, so ask the provider before placing the order again.
	ActionCompletePaymentChallenge Action = "complete-payment-challenge"
)

// Error is a classified provider failure. It never holds secrets: no API key, no payment token.
type Error struct {
	Class      Class
	Op         string // "createCart", "submitCart", "checkoutByCartID", "POST /orders", ...
	Code       string // provider code: PAYMENT_FAILED, conflict/failed-request, ...
	Message    string
	Retryable  *bool // the provider's own flag, as sent (nil = absent)
	HTTPStatus int
	RequestID  string
	RetryAfter time.Duration // for ClassRateLimited (and retryable answers that name a wait)
	Action     Action
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Op, e.Class)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.HTTPStatus)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// ClassOf returns the Class of err, or 0 if err is nil or not a *Error.
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return 0
}

// Bool returns a pointer to b, for Retryable flags.
func Bool(b bool) *bool { return &b }

// Operations: provider-neutral names of Provider's methods, as metrics and logs label them.
const (
	OpCreateCart = "create_cart"
	OpSubmit     = "submit"
	OpStatus     = "status"
)
