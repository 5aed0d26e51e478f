package processor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// Tracker polls the placement of submitted carts (orders.tracking, a delay topic: each
// record is due at its next poll) and ends each attempt per merchant order.
type Tracker struct{ cfg *Config }

// NewTracker validates cfg and returns a Tracker.
func NewTracker(cfg *Config) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Tracker{cfg: cfg}, nil
}

// Handle polls once and either reschedules the record or ends the attempt.
func (t *Tracker) Handle(ctx context.Context, r *kgo.Record) error {
	tr, err := t.cfg.Codec.DecodeTracking(ctx, r.Value)
	if errors.Is(err, schemas.ErrUndecodable) {
		return consumer.Permanent(fmt.Errorf("decoding tracking record: %w", err))
	}
	if err != nil {
		return err
	}
	rec, err := t.cfg.Store.Get(ctx, tr.OrderID, tr.Attempt)
	if err != nil {
		return err
	}
	log := t.cfg.Logger.With("order", tr.OrderID, "attempt", tr.Attempt, "cart", tr.CartID)
	switch {
	case rec.State == idempotency.StateNone || tr.Chain < rec.Chain:
		log.Debug("dropping a stale tracking record", "chain", tr.Chain, "live", rec.Chain)
		return nil
	case tr.Chain > rec.Chain:
		// Produced by a hand-over that has not named its chain live yet (or never will, if its
		// process died: then the older chain's redelivered record supersedes it). Look again later.
		return fmt.Errorf("tracking chain %d of order %s attempt %d is not live yet (live: %d)", tr.Chain, tr.OrderID, tr.Attempt, rec.Chain)
	case rec.State == idempotency.StateTerminal:
		// Ended by this chain, but the events may not have been produced: re-emit.
		o, err := decodeOutcome(rec.OutcomeData)
		if err != nil {
			return consumer.Permanent(err)
		}
		return t.cfg.emit(ctx, o)
	case rec.State == idempotency.StateSubmitting:
		// This chain's never-started resubmit lost its answer (crash, timeout): the cart may
		// have gone through. Never resubmit blindly: go back to polling under a new chain.
		return t.recoverResubmit(ctx, tr)
	case rec.State != idempotency.StateSubmitted:
		log.Debug("dropping a tracking record of an attempt in another state", "state", rec.State)
		return nil
	}
	prov := t.cfg.Providers[tr.Provider]
	if prov == nil {
		return consumer.Permanent(fmt.Errorf("tracking order %s: unknown provider %q", tr.OrderID, tr.Provider))
	}
	pl, err := prov.Status(ctx, tr.CartID)
	elapsed := t.cfg.Now().Sub(tr.SubmittedAt)
	if err != nil {
		pe := asProviderError(err, "status", false)
		if elapsed >= 2*t.cfg.StuckAfter {
			// Placement has been unreadable for twice the stuck threshold: a person must ask
			// the provider about this cart. Never resubmitted: it may be placed.
			return t.finish(ctx, tr, provider.Placement{}, fmt.Errorf("placement unreadable for %v: %s", elapsed.Round(time.Second), pe))
		}
		log.Warn("polling placement failed; polling again later", "class", pe.Class, "code", pe.Code)
		return t.reschedule(ctx, tr, max(pe.RetryAfter, t.cfg.PollInterval))
	}
	var notStarted, started, open int
	for _, o := range pl.Orders {
		switch o.Phase() {
		case provider.PhaseNotStarted:
			notStarted++
			open++
		case provider.PhaseStarted:
			started++
			open++
		case provider.PhaseInProgress:
			open++
		}
	}
	switch {
	case len(pl.Orders) > 0 && open == 0:
		return t.finish(ctx, tr, pl, nil)
	case notStarted == len(pl.Orders) && elapsed >= t.cfg.NeverStartedAfter:
		if tr.Resubmits >= t.cfg.MaxResubmits {
			return t.finish(ctx, tr, pl, errors.New("never started, resubmits exhausted"))
		}
		return t.resubmit(ctx, tr, prov)
	case started > 0 && elapsed >= t.cfg.StuckAfter:
		return t.finish(ctx, tr, pl, errors.New("stuck after OrderSubmissionStarted"))
	}
	tr.Polls++
	if !tr.Announced && notStarted < len(pl.Orders) {
		tr.Announced = true
		st := t.cfg.status(tr.Request, StatePlacementStarted, tr.CartID, "", "")
		return t.cfg.emit(ctx, outcome{Status: []schemas.OrderStatus{st}}, t.next(tr, t.cfg.PollInterval))
	}
	return t.reschedule(ctx, tr, t.cfg.PollInterval)
}

func (t *Tracker) reschedule(ctx context.Context, tr schemas.Tracking, after time.Duration) error {
	return t.cfg.Events.Send(ctx, t.next(tr, after))
}

// next is tr again, due after the given wait.
func (t *Tracker) next(tr schemas.Tracking, after time.Duration) producer.Message {
	return producer.Message{Topic: t.cfg.Topology.Tracking(), Key: tr.OrderID, Value: tr, Due: t.cfg.Now().Add(after)}
}

// recoverResubmit takes over an attempt left in submitting by this chain's resubmit.
func (t *Tracker) recoverResubmit(ctx context.Context, tr schemas.Tracking) error {
	rec, err := t.cfg.Store.Acquire(ctx, tr.OrderID, tr.Attempt, Fingerprint(tr.Request), t.cfg.Owner)
	if err != nil {
		return err // ErrBusy while the crashed resubmitter's lease lives: retried
	}
	if rec.Chain != tr.Chain || rec.State != idempotency.StateSubmitting {
		return nil
	}
	tr.Resubmits, tr.OutcomeUnknown = tr.Resubmits+1, true
	return t.handOver(ctx, tr, rec)
}

// handOver starts a new tracking chain for an attempt this tracker holds in submitting.
// The new chain's first record is produced BEFORE the store names it live: after a crash in
// between, the old chain is still live and its redelivered record recovers the attempt, and
// the orphan record of the new chain is dropped as stale.
func (t *Tracker) handOver(ctx context.Context, tr schemas.Tracking, rec idempotency.Record) error {
	tr.Chain, tr.SubmittedAt = rec.Fence, t.cfg.Now()
	if err := t.reschedule(ctx, tr, t.cfg.PollInterval); err != nil {
		return err
	}
	_, err := t.cfg.Store.Transition(ctx, rec, idempotency.StateSubmitted, idempotency.Change{Chain: rec.Fence, Release: true}, idempotency.StateSubmitting)
	return err
}

// resubmit submits the original cart again after it never reached placement (the Rye seed:
// safe when the events list stayed empty for NeverStartedAfter).
func (t *Tracker) resubmit(ctx context.Context, tr schemas.Tracking, prov provider.Provider) error {
	rec, err := t.cfg.Store.Acquire(ctx, tr.OrderID, tr.Attempt, Fingerprint(tr.Request), t.cfg.Owner)
	if err != nil {
		return err
	}
	if rec.Chain != tr.Chain || rec.State != idempotency.StateSubmitted {
		return nil
	}
	if rec, err = t.cfg.Store.Transition(ctx, rec, idempotency.StateSubmitting, idempotency.Change{}, idempotency.StateSubmitted); err != nil {
		return err
	}
	t.cfg.Logger.Info("cart never reached placement: resubmitting the original cart", "order", tr.OrderID, "attempt", tr.Attempt, "cart", tr.CartID)
	_, err = prov.Submit(ctx, provider.SubmitRequest{CartID: tr.CartID, OrderRef: orderRef(tr.Request), ShopperIP: tr.Request.ShopperIP, PaymentRef: tr.Request.PaymentRef})
	if err != nil {
		pe := asProviderError(err, "submit", true)
		w := &Worker{cfg: t.cfg}
		switch pe.Class {
		case provider.ClassOutcomeUnknown, provider.ClassAlreadySubmitted:
			// It may have gone through: keep polling; the never-started clock restarts.
		case provider.ClassRetryable, provider.ClassRateLimited:
			// Refused with certainty: the cart is still unsubmitted. Give it to the retry path
			// (reconciler, delay tier, worker) like any retryable submit failure. The failure
			// is produced first: until the state moves the reconciler waits, and after a crash
			// this chain's redelivered record recovers the attempt (recoverResubmit).
			if err := w.cfg.record(ctx, tr.OrderID, attemptOf(tr.Request, PhaseSubmission, tr.CartID, pe, t.cfg.Now(), 0)); err != nil {
				return err
			}
			history, err := t.cfg.history(ctx, tr.OrderID)
			if err != nil {
				return err
			}
			st := t.cfg.status(tr.Request, StateFailed, tr.CartID, "", "")
			st.Code, st.Message = pe.Code, pe.Message
			o := outcome{Status: []schemas.OrderStatus{st}, Failures: []schemas.OrderFailure{t.cfg.failure(tr.Request, PhaseSubmission, tr.CartID, pe, history)}}
			if err := t.cfg.emit(ctx, o); err != nil {
				return err
			}
			_, err = t.cfg.Store.Transition(ctx, rec, idempotency.StateCartCreated, idempotency.Change{Release: true}, idempotency.StateSubmitting)
			return err
		default:
			return w.fail(ctx, tr.Request, rec, PhaseSubmission, tr.CartID, pe)
		}
	}
	tr.Resubmits++
	st := t.cfg.status(tr.Request, StateResubmitted, tr.CartID, "", "")
	st.Message = fmt.Sprintf("no placement events after %v: resubmitted the original cart", t.cfg.NeverStartedAfter)
	if err := t.cfg.emit(ctx, outcome{Status: []schemas.OrderStatus{st}}); err != nil {
		return err
	}
	return t.handOver(ctx, tr, rec)
}

// finish ends the attempt from the placement seen: per merchant order placed, failed (a
// failure event for the reconciler) or, when stuck is set, needs attention.
func (t *Tracker) finish(ctx context.Context, tr schemas.Tracking, pl provider.Placement, stuck error) error {
	rec, err := t.cfg.Store.Acquire(ctx, tr.OrderID, tr.Attempt, Fingerprint(tr.Request), t.cfg.Owner)
	if err != nil {
		return err
	}
	if rec.Chain != tr.Chain || rec.State != idempotency.StateSubmitted {
		return nil
	}
	req := tr.Request
	var o outcome
	placed, failed, attention := 0, 0, 0
	orders := pl.Orders
	if len(orders) == 0 {
		orders = []provider.OrderPlacement{{}}
	}
	for _, mo := range orders {
		items := itemsOf(req.Items, mo.Merchant, len(orders))
		switch mo.Phase() {
		case provider.PhasePlaced:
			placed++
			for _, m := range merchants(items) {
				o.Status = append(o.Status, t.cfg.status(req, StatePlaced, tr.CartID, m, mo.OrderID))
			}
		case provider.PhaseFailed:
			failed++
			ev, _ := mo.Failure()
			st := t.cfg.status(req, StateFailed, tr.CartID, mo.Merchant, mo.OrderID)
			st.Code, st.Message = ev.ReasonCode, ev.Reason
			o.Status = append(o.Status, st)
			o.Failures = append(o.Failures, t.placementFailure(tr, mo, items, ev))
		default:
			attention++
			st := t.cfg.status(req, StateFailed, tr.CartID, mo.Merchant, mo.OrderID)
			st.Code, st.Message = ClassStuck, stuck.Error()
			o.Status = append(o.Status, st)
			f := t.placementFailure(tr, mo, items, provider.Event{Reason: stuck.Error(), ReasonCode: mo.Phase().String()})
			f.Class, f.Action = ClassStuck, string(provider.ActionContactProvider)
			o.Failures = append(o.Failures, f)
		}
	}
	result := StatePlaced
	switch {
	case attention > 0:
		result = StateNeedsAttention
	case failed > 0:
		result = StateFailed
	}
	if result == StatePlaced {
		o.Status = append(o.Status, t.cfg.status(req, StatePlaced, tr.CartID, "", ""))
	}
	if _, err := t.cfg.Store.Transition(ctx, rec, idempotency.StateTerminal, idempotency.Change{Outcome: result, OutcomeData: o.encode()}, idempotency.StateSubmitted); err != nil {
		return err
	}
	return t.cfg.emit(ctx, o)
}

// itemsOf returns the items of merchant; a cart with a single order owns every item.
func itemsOf(items []schemas.Item, merchant string, orders int) []schemas.Item {
	if orders <= 1 || merchant == "" {
		return items
	}
	var out []schemas.Item
	for _, it := range items {
		if it.Merchant == merchant {
			out = append(out, it)
		}
	}
	return out
}

func (t *Tracker) placementFailure(tr schemas.Tracking, mo provider.OrderPlacement, items []schemas.Item, ev provider.Event) schemas.OrderFailure {
	req := tr.Request
	class := provider.ClassUnknownRetryability
	action := provider.ActionInvestigate
	if ev.Retryable != nil {
		class, action = provider.ClassNotRetryable, placementAction(ev.ReasonCode)
		if *ev.Retryable {
			class, action = provider.ClassRetryable, provider.ActionNone
		}
	}
	return schemas.OrderFailure{
		EventID: EventID(req.OrderID, req.Attempt, mo.Merchant, "failure/placement"), OrderID: req.OrderID, Attempt: req.Attempt,
		Provider: req.Provider, Phase: PhasePlacement, Class: class.String(), Code: ev.ReasonCode, Message: ev.Reason,
		Retryable: ev.Retryable, CartID: tr.CartID, Merchant: mo.Merchant, MerchantOrderID: mo.OrderID,
		Action: string(action), FailedItems: items, Request: req, At: t.cfg.Now().UTC(),
	}
}

// placementAction maps an OrderFailed reason code to what a person must do.
func placementAction(code string) provider.Action {
	switch code {
	case "INSUFFICIENT_FUNDS", "PAYMENT_DECLINED", "PAYMENT_FAILED":
		return provider.ActionNewPaymentMethod
	case "SHIPPING_ADDRESS_UNAVAILABLE":
		return provider.ActionNewAddress
	case "INVALID_REQUEST":
		return provider.ActionFixInput
	case "MERCHANT_CONFIGURATION", "DENIED_BY_MARKETPLACE":
		return provider.ActionContactProvider
	}
	return provider.ActionInvestigate
}
