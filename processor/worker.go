package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/backoff"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// Worker places order attempts: it consumes OrderRequested from the requests topic and the
// retry tiers. It is safe for concurrent use across keys; the engine serialises one key.
type Worker struct{ cfg *Config }

// Handle processes one order request. It returns consumer.Permanent for records that can
// never be processed and a plain error (retry later) when the store or Kafka is unavailable:
// without the store nothing is submitted (fail closed).
func (w *Worker) Handle(ctx context.Context, r *kgo.Record) error {
	return decoding[schemas.OrderRequested]{w.cfg, "order request", (*schemas.Codec).DecodeOrderRequested, w.handle}.Handle(ctx, r)
}

// handle processes one decoded order request.
func (w *Worker) handle(ctx context.Context, r *kgo.Record, req schemas.OrderRequested) error {
	if len(req.OrderID) > MaxIDBytes {
		return consumer.Permanent(fmt.Errorf("order id of %d bytes: longer than %d", len(req.OrderID), MaxIDBytes))
	}
	if err := validate(req, w.cfg.Providers); err != nil {
		return w.reject(ctx, r, req, err)
	}
	if over, err := w.overLimits(ctx, r, req); over || err != nil {
		return err
	}
	a, err := w.cfg.acquire(ctx, req.OrderID, req.Attempt, req)
	if errors.Is(err, idempotency.ErrConflict) {
		return consumer.Permanent(fmt.Errorf("order %s attempt %d: %w", req.OrderID, req.Attempt, err))
	}
	if err != nil {
		return err
	}
	log := w.cfg.Logger.With("order_id", req.OrderID, "attempt", req.Attempt, "provider", req.Provider)
	if a.State() == idempotency.StateTerminal {
		log.Info("duplicate of a finished attempt: re-emitting its outcome", "outcome", a.rec.Outcome)
		o, err := decodeOutcome(a.rec.OutcomeData)
		if err != nil {
			return consumer.Permanent(fmt.Errorf("decoding stored outcome of %s: %w", a.rec.Key, err))
		}
		return w.cfg.emit(ctx, o)
	}
	return w.advance(ctx, log, req, a, w.cfg.Providers[req.Provider])
}

// advance moves the attempt forward from wherever the store says it stands.
func (w *Worker) advance(ctx context.Context, log *slog.Logger, req schemas.OrderRequested, a *attempt, prov provider.Provider) error {
	switch a.State() {
	case idempotency.StateReserved:
		if cartID := reusedCart(req); cartID != "" { // a replay of a fixed cart: see replay.go
			return w.reuseCart(ctx, req, a, prov, cartID)
		}
		return w.createCart(ctx, req, a, prov)
	case idempotency.StateCartCreated:
		return w.submit(ctx, req, a, prov, false)
	case idempotency.StateSubmitting:
		// The last submit's answer was lost (crash, timeout): the cart may be charged.
		// Never submit blindly; let the tracker find out.
		log.Info("resuming after a lost submit answer: polling instead of resubmitting", "cart_id", a.rec.CartID)
		// The cart_created status travelled with the submit's events (BeginSubmitCart): it
		// may never have been produced. Produced again, it dedupes by its event id.
		a.held = outcome{Status: []schemas.OrderStatus{w.cfg.status(req, StatusCartCreated, a.rec.CartID, "", "")}}
		return w.track(ctx, req, a, StatusOutcomeUnknown)
	case idempotency.StateSubmitted:
		// Its tracking chain and events were produced before the state said so
		// (HandToTracker): the tracker has it. Hand the lease back.
		log.Info("duplicate of a submitted attempt: the tracker has it", "cart_id", a.rec.CartID)
		return a.Release(ctx, outcome{})
	}
	return fmt.Errorf("order %s attempt %d: unexpected state %q", req.OrderID, req.Attempt, a.State())
}

func (w *Worker) backoff() retry.Backoff {
	return retry.WithMaxRetries(uint64(w.cfg.SubmitRetries), backoff.New(w.cfg.RetryBase, w.cfg.RetryMax))
}

// call runs op with a fresh backoff: a retryable error is retried (SubmitRetries times),
// a rate limit waits the provider's time without counting. between runs before each retry.
func (w *Worker) call(ctx context.Context, req schemas.OrderRequested, phase, cartID string, op func() error, between func() error) (*provider.Error, error) {
	b := w.backoff()
	for {
		start := w.cfg.Now()
		err := op()
		if err == nil {
			return nil, nil
		}
		var ie infraError
		if errors.As(err, &ie) {
			return nil, ie.error
		}
		if err := notAnswered(ctx, err); err != nil {
			// Not called for certain: step back (between) so the retried record submits
			// instead of polling a cart that was never sent.
			if between != nil && errors.Is(err, provider.ErrNotCalled) {
				if berr := between(); berr != nil {
					return nil, errors.Join(err, berr)
				}
			}
			return nil, err
		}
		pe := asProviderError(err, phase, phase == PhaseSubmission)
		w.cfg.providerFailed(req, operationOf(phase), cartID, pe)
		if err := w.cfg.record(ctx, req.OrderID, attemptOf(req, phase, cartID, pe, start, w.cfg.Now().Sub(start))); err != nil {
			return pe, err
		}
		var wait time.Duration
		switch pe.Class {
		case provider.ClassRateLimited:
			wait = max(pe.RetryAfter, w.cfg.RetryBase)
		case provider.ClassRetryable:
			d, stop := b.Next()
			if stop {
				return pe, nil
			}
			wait = max(d, pe.RetryAfter)
		default:
			return pe, nil
		}
		if between != nil {
			if err := between(); err != nil {
				return pe, err
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return pe, err
		}
	}
}

func (w *Worker) createCart(ctx context.Context, req schemas.OrderRequested, a *attempt, prov provider.Provider) error {
	var cart provider.Cart
	pe, err := w.call(ctx, req, PhaseCart, "", func() error {
		var err error
		cart, err = prov.CreateCart(ctx, cartRequest(req))
		return err
	}, nil)
	if err != nil {
		return err
	}
	if pe != nil {
		if pe.Class == provider.ClassRetryable || pe.Class == provider.ClassRateLimited {
			return w.handOff(ctx, req, a, pe)
		}
		return w.fail(ctx, req, a, pe)
	}
	return w.submitNew(ctx, req, a, prov, cart.ID)
}

// submitNew records cartID and the start of its submit in one store write (BeginSubmitCart),
// then submits; the cart_created status goes out with the submit's outcome.
func (w *Worker) submitNew(ctx context.Context, req schemas.OrderRequested, a *attempt, prov provider.Provider, cartID string) error {
	if err := a.BeginSubmitCart(ctx, cartID, outcome{Status: []schemas.OrderStatus{w.cfg.status(req, StatusCartCreated, cartID, "", "")}}); err != nil {
		return err
	}
	return w.submit(ctx, req, a, prov, true)
}

// submit submits the attempt's cart, retrying in process; begun says the first submit is
// already recorded (BeginSubmitCart), so only the retries record theirs (BeginSubmit).
func (w *Worker) submit(ctx context.Context, req schemas.OrderRequested, a *attempt, prov provider.Provider, begun bool) error {
	var sub provider.Submission
	cartID := a.rec.CartID
	pe, err := w.call(ctx, req, PhaseSubmission, cartID, func() error {
		if !begun {
			if err := a.BeginSubmit(ctx); err != nil {
				return infraError{err}
			}
		}
		begun = false
		var err error
		sub, err = prov.Submit(ctx, submitRequest(req, cartID))
		return err
	}, func() error { return a.Refused(ctx) })
	if err != nil {
		return err
	}
	if pe == nil {
		return w.track(ctx, req, a, StatusSubmitted, sub.Orders...)
	}
	switch pe.Class {
	case provider.ClassOutcomeUnknown, provider.ClassAlreadySubmitted:
		return w.track(ctx, req, a, StatusOutcomeUnknown)
	case provider.ClassRetryable, provider.ClassRateLimited:
		if err := a.Refused(ctx); err != nil {
			return err
		}
		return w.handOff(ctx, req, a, pe)
	}
	return w.fail(ctx, req, a, pe)
}

// handOff gives a still-retryable attempt to the reconciler, which schedules a delay-tier retry.
func (w *Worker) handOff(ctx context.Context, req schemas.OrderRequested, a *attempt, pe *provider.Error) error {
	o, err := w.cfg.failed(ctx, req, a.rec.CartID, pe, false)
	if err != nil {
		return err
	}
	return a.Release(ctx, o)
}

// fail ends the attempt: the failure goes to the reconciler, which dead-letters or replaces.
func (w *Worker) fail(ctx context.Context, req schemas.OrderRequested, a *attempt, pe *provider.Error) error {
	o, err := w.cfg.failed(ctx, req, a.rec.CartID, pe, true)
	if err != nil {
		return err
	}
	return a.Fail(ctx, o)
}

// track hands a submitted attempt to the tracker (HandToTracker) with the status events of
// the submit: state, then one submitted event per merchant order the provider named.
func (w *Worker) track(ctx context.Context, req schemas.OrderRequested, a *attempt, state Status, orders ...provider.MerchantOrder) error {
	cartID := a.rec.CartID
	o := outcome{Status: []schemas.OrderStatus{w.cfg.status(req, state, cartID, "", "")}}
	for _, mo := range orders {
		o.Status = append(o.Status, w.cfg.status(req, StatusSubmitted, cartID, mo.Merchant, mo.OrderID))
	}
	t := schemas.Tracking{OrderID: req.OrderID, Attempt: req.Attempt, Provider: req.Provider, CartID: cartID,
		OutcomeUnknown: state == StatusOutcomeUnknown, Request: req}
	return a.HandToTracker(ctx, t, o)
}

// infraError marks an error of the store or of Kafka inside a provider operation: it is
// returned as is (retry the record later), never classified as a provider answer.
type infraError struct{ error }

func (e infraError) Unwrap() error { return e.error }

// overLimits dead-letters a request over the Limits, or whose derived records would not fit
// their topics, and reports whether it did. An attempt the store already knows was accepted
// before the limits changed: it is finished as it began, never ended twice.
func (w *Worker) overLimits(ctx context.Context, r *kgo.Record, req schemas.OrderRequested) (bool, error) {
	why := w.cfg.Limits.Check(req, len(r.Value))
	if why == nil {
		why = w.cfg.fits(req, len(r.Value))
	}
	if why == nil {
		return false, nil
	}
	rec, err := w.cfg.Store.Get(ctx, req.OrderID, req.Attempt)
	if err != nil {
		return true, err
	}
	if rec.State != idempotency.StateNone {
		w.cfg.Logger.Warn("attempt over the limits is already under way: finishing it", "order_id", req.OrderID, "attempt", req.Attempt, "limit", why)
		return false, nil
	}
	return true, w.reject(ctx, r, req, why)
}

// reject dead-letters a request that decoded but can not be an order (no items, unknown
// provider, over a limit...). Nothing was created at the provider. The order is finished:
// downstream sees dead_lettered, per merchant of its items, or once for the whole order when it
// claims more items than an order may have.
func (w *Worker) reject(ctx context.Context, r *kgo.Record, req schemas.OrderRequested, reason error) error {
	rule, code := "invalid-request", "invalid-request"
	if IsLimit(reason) {
		rule, code = "request-limit", "limit-exceeded"
	}
	items := req.Items
	if len(items) > w.cfg.Limits.MaxItems {
		items = nil
	}
	final := w.cfg.final(req, StatusDeadLettered, items, "", code, string(provider.ActionFixInput), reason.Error())
	dl := schemas.DeadLetter{
		DeadLetterID: EventID(req.OrderID, req.Attempt, "", "dlq/invalid"), OrderID: req.OrderID, Attempt: req.Attempt,
		Provider: req.Provider, Reason: reason.Error(), Action: string(provider.ActionFixInput), Rule: rule, Code: code,
		SourceTopic: r.Topic, SourcePartition: r.Partition, SourceOffset: r.Offset, Request: &req,
		TraceContext: traceContext(r), At: w.cfg.Now().UTC(),
	}
	return w.cfg.emit(ctx, outcome{Status: final}, producer.Message{Topic: w.cfg.Topology.DLQ(), Key: req.OrderID, Value: dl})
}

// MaxIDBytes bounds an order id. A longer one is no id: its record is dead-lettered as
// unprocessable (it would key every event of the order).
const MaxIDBytes = 256

func validate(req schemas.OrderRequested, providers map[string]provider.Provider) error {
	switch {
	case req.Attempt < 1 || req.Attempt > math.MaxInt32:
		return fmt.Errorf("attempt %d: must be between 1 and 2^31-1", req.Attempt)
	case providers[req.Provider] == nil:
		return fmt.Errorf("unknown provider %q", clipped(req.Provider))
	}
	return Validate(req)
}

// clipped cuts a value quoted in a reason to 64 bytes.
func clipped(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Validate reports why the content of req can not be an order: the checks every request must
// pass before anything is reserved or submitted (the replay tool runs them on patched requests).
func Validate(req schemas.OrderRequested) error {
	switch {
	case len(req.Items) == 0:
		return errors.New("no items")
	case req.Buyer.CountryCode == "":
		return errors.New("buyer country code is required")
	case req.Billing != nil && req.Billing.CountryCode == "":
		return errors.New("billing country code is required")
	case req.RequestedAt.Year() > 9999 || req.Deadline.Year() > 9999 || req.RequestedAt.Year() < 0 || req.Deadline.Year() < 0:
		return errors.New("requested_at and deadline must be within the years 0 to 9999")
	}
	for i, it := range req.Items {
		if it.ProductID == "" || it.Quantity <= 0 {
			return fmt.Errorf("item %d: product id and a positive quantity are required", i)
		}
	}
	return nil
}

func orderRef(req schemas.OrderRequested) string {
	return fmt.Sprintf("%s/%d", req.OrderID, req.Attempt)
}

func cartRequest(req schemas.OrderRequested) provider.CartRequest {
	items := make([]provider.Item, len(req.Items))
	for i, it := range req.Items {
		items[i] = provider.Item{Merchant: it.Merchant, ProductID: it.ProductID, Quantity: it.Quantity, PriceCents: it.PriceCents, Name: it.Name, SKUGroupID: it.SKUGroupID, CountryOfOrigin: it.CountryOfOrigin}
	}
	return provider.CartRequest{
		OrderRef: orderRef(req), Items: items, Currency: req.Currency, PaymentRef: req.PaymentRef,
		Buyer: providerBuyer(req.Buyer), ShopperIP: req.ShopperIP,
	}
}

// submitRequest is the submit of cartID for req (the worker's, and the tracker's resubmit).
// The billing address is the request's own, else the buyer's: Rye's current docs require
// submitCart's billingAddress.
func submitRequest(req schemas.OrderRequested, cartID string) provider.SubmitRequest {
	billing := providerBuyer(req.Buyer)
	if req.Billing != nil {
		billing = providerBuyer(*req.Billing)
	}
	return provider.SubmitRequest{CartID: cartID, OrderRef: orderRef(req), ShopperIP: req.ShopperIP, PaymentRef: req.PaymentRef, Billing: &billing}
}

func providerBuyer(b schemas.Buyer) provider.Buyer {
	return provider.Buyer{FirstName: b.FirstName, LastName: b.LastName, Email: b.Email, Phone: b.Phone,
		Address1: b.Address1, Address2: b.Address2, City: b.City, ProvinceCode: b.ProvinceCode,
		PostalCode: b.PostalCode, CountryCode: b.CountryCode}
}
