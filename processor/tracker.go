package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/backoff"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// Tracker polls the placement of submitted carts (orders.tracking, a delay topic: each
// record is due at its next poll) and ends each attempt per merchant order.
type Tracker struct{ cfg *Config }

// Handle polls once and either reschedules the record or ends the attempt.
func (t *Tracker) Handle(ctx context.Context, r *kgo.Record) error {
	return decoding[schemas.Tracking]{t.cfg, "tracking record", (*schemas.Codec).DecodeTracking, t.handle}.Handle(ctx, r)
}

// handle polls once for one decoded tracking record.
func (t *Tracker) handle(ctx context.Context, _ *kgo.Record, tr schemas.Tracking) error {
	rec, err := t.cfg.Store.Get(ctx, tr.OrderID, tr.Attempt)
	if err != nil {
		return err
	}
	log := t.cfg.Logger.With("order_id", tr.OrderID, "attempt", tr.Attempt, "cart_id", tr.CartID)
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
	tr.Polls++ // counted answered or not: the provider may have served it
	now := t.cfg.Now()
	elapsed := now.Sub(tr.SubmittedAt)
	if err != nil {
		if err := notAnswered(ctx, err); err != nil {
			return err // no answer: retried, and never counted as unreadable placement
		}
		pe := asProviderError(err, "status", false)
		t.cfg.providerFailed(tr.Request, provider.OpStatus, tr.CartID, pe)
		if unreadable := now.Sub(t.unreadableSince(tr)); unreadable >= 2*t.cfg.StuckAfter {
			// Placement has been unreadable for twice the stuck threshold: a person must ask
			// the provider about this cart. Never resubmitted: it may be placed.
			return t.finish(ctx, rec, tr, provider.Placement{}, fmt.Errorf("placement unreadable for %v: %s", unreadable.Round(time.Second), pe))
		}
		return t.reschedule(ctx, tr, max(pe.RetryAfter, t.cfg.PollInterval))
	}
	var notStarted, stuck, open, waiting, expired int
	var announce []schemas.OrderStatus
	for i := range tr.ActionWaits {
		tr.ActionWaits[i].Waiting = false
	}
	for i, o := range pl.Orders {
		switch o.Phase() {
		case provider.PhaseNotStarted:
			notStarted++
			open++
		case provider.PhaseStarted:
			open++
			// A merchant order that waited for the customer is stuck only StuckAfter after
			// the wait ended, not after the submission.
			if now.Sub(t.stuckClockStart(tr, o)) >= t.cfg.StuckAfter {
				stuck++
			}
		case provider.PhaseInProgress:
			open++
		case provider.PhaseActionRequired:
			// The customer has it (3-D Secure): no clock but the action deadline runs.
			open++
			waiting++
			w, sts := t.awaitAction(&tr, pl.Orders, i, now)
			announce = append(announce, sts...)
			if !now.Before(w.Since.Add(t.cfg.ActionTimeout)) {
				expired++
			}
		}
	}
	switch {
	case len(pl.Orders) > 0 && open == 0:
		return t.finish(ctx, rec, tr, pl, nil)
	case waiting > 0:
		// The attempt ends only as a whole: once every waiting merchant order is past its
		// deadline and nothing else is still moving (placed, failed or stuck).
		if expired == waiting && open == waiting+stuck {
			var why error
			if stuck > 0 {
				why = errors.New("stuck after submission started")
			}
			return t.finish(ctx, rec, tr, pl, why)
		}
	case notStarted == len(pl.Orders) && elapsed >= t.cfg.NeverStartedAfter:
		if tr.Resubmits >= t.cfg.MaxResubmits {
			// The provider took the cart (or may have) that often and never started it.
			return t.finish(ctx, rec, tr, pl, fmt.Errorf("never started after %d resubmits the provider accepted or left unanswered (MaxResubmits)", tr.Resubmits))
		}
		return t.resubmit(ctx, tr, prov)
	case stuck > 0:
		return t.finish(ctx, rec, tr, pl, errors.New("stuck after submission started"))
	}
	var sts []schemas.OrderStatus
	if !tr.Announced && notStarted < len(pl.Orders) {
		tr.Announced = true
		sts = append(sts, t.cfg.status(tr.Request, StatusPlacementStarted, tr.CartID, "", ""))
	}
	sts = append(sts, announce...)
	if len(sts) > 0 {
		// The statuses go out with the next record, which remembers what was announced: a
		// redelivery of this record announces again under the same event ids.
		return t.cfg.emit(ctx, outcome{Status: sts}, t.next(tr, t.cfg.pollWait(tr.Polls)))
	}
	return t.reschedule(ctx, tr, t.cfg.pollWait(tr.Polls))
}

// awaitAction records that merchant order i waits for the customer and returns its wait,
// with the action_required statuses to announce: when first seen, and again when the
// redirect URL changes (a new challenge).
func (t *Tracker) awaitAction(tr *schemas.Tracking, orders []provider.OrderPlacement, i int, now time.Time) (schemas.ActionWait, []schemas.OrderStatus) {
	mo := orders[i]
	ra, _ := mo.RequiredAction()
	kind, url := ra.Kind, ra.RedirectURL
	j := waitIndex(tr.ActionWaits, mo)
	if j < 0 {
		tr.ActionWaits = append(tr.ActionWaits, schemas.ActionWait{Merchant: mo.Merchant, MerchantOrderID: mo.OrderID, Since: now})
		j = len(tr.ActionWaits) - 1
	} else if tr.ActionWaits[j].RedirectURL == url {
		tr.ActionWaits[j].LastSeen, tr.ActionWaits[j].Waiting = now, true
		return tr.ActionWaits[j], nil
	}
	w := &tr.ActionWaits[j]
	w.RedirectURL, w.LastSeen, w.Waiting = url, now, true
	if w.MerchantOrderID == "" {
		w.MerchantOrderID = mo.OrderID
	}
	deadline := w.Since.Add(t.cfg.ActionTimeout).UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("waiting for the customer to complete %s by %s", kind, deadline)
	if url == "" {
		msg += " (the provider gave no redirect URL yet)"
	}
	var out []schemas.OrderStatus
	for _, m := range merchants(itemsOf(tr.Request.Items, orders, i)) {
		// The URL is part of the event id: a new challenge is a new event, a repeated one dedupes.
		st := t.cfg.statusOf(tr.Request, StatusActionRequired, url, tr.CartID, m, mo.OrderID)
		st.RedirectURL, st.Message = url, msg
		out = append(out, st)
	}
	return *w, out
}

// waitIndex returns the index of mo's wait in waits, or -1.
func waitIndex(waits []schemas.ActionWait, mo provider.OrderPlacement) int {
	for i, w := range waits {
		if w.Merchant == mo.Merchant && (w.MerchantOrderID == mo.OrderID || w.MerchantOrderID == "" || mo.OrderID == "") {
			return i
		}
	}
	return -1
}

// timeoutAction is the dead-letter action of a required action the customer did not complete
// in time: the adapter's Action, else investigate.
func timeoutAction(a provider.RequiredAction) provider.Action {
	if a.Action == provider.ActionNone {
		return provider.ActionInvestigate
	}
	return a.Action
}

// stuckClockStart is when mo's stuck clock started: the submission, or the last poll that
// saw it waiting for the customer.
func (t *Tracker) stuckClockStart(tr schemas.Tracking, mo provider.OrderPlacement) time.Time {
	start := tr.SubmittedAt
	if j := waitIndex(tr.ActionWaits, mo); j >= 0 && tr.ActionWaits[j].LastSeen.After(start) {
		start = tr.ActionWaits[j].LastSeen
	}
	return start
}

// unreadableSince is when the unreadable-placement clock started: the submission, or for a
// cart that waits for the customer the end of the wait's deadline (while the customer may
// still act, an unreadable placement is no reason to escalate), or the end of the last wait.
func (t *Tracker) unreadableSince(tr schemas.Tracking) time.Time {
	start := tr.SubmittedAt
	for _, w := range tr.ActionWaits {
		end := w.LastSeen
		if w.Waiting {
			end = w.Since.Add(t.cfg.ActionTimeout)
		}
		if end.After(start) {
			start = end
		}
	}
	return start
}

func (t *Tracker) reschedule(ctx context.Context, tr schemas.Tracking, after time.Duration) error {
	return t.cfg.send(ctx, t.next(tr, after))
}

// next is tr again, due after the given wait.
func (t *Tracker) next(tr schemas.Tracking, after time.Duration) producer.Message {
	return producer.Message{Topic: t.cfg.Topology.Tracking(), Key: tr.OrderID, Value: tr, Due: t.cfg.Now().Add(after)}
}

// lease takes the lease on tr's attempt for this chain: nil (and no error) when another chain
// is live or the attempt is not in state want, so the record has nothing left to do.
func (t *Tracker) lease(ctx context.Context, tr schemas.Tracking, want idempotency.State) (*attempt, error) {
	a, err := t.cfg.acquire(ctx, tr.OrderID, tr.Attempt, tr.Request)
	if err != nil {
		return nil, err // ErrBusy while another lease (a crashed resubmitter's) lives: retried
	}
	if a.rec.Chain != tr.Chain || a.State() != want {
		return nil, nil
	}
	return a, nil
}

// recoverResubmit takes over an attempt left in submitting by this chain's resubmit, and
// hands it to the tracker again under a new chain, as a lost answer.
func (t *Tracker) recoverResubmit(ctx context.Context, tr schemas.Tracking) error {
	a, err := t.lease(ctx, tr, idempotency.StateSubmitting)
	if a == nil || err != nil {
		return err
	}
	tr.Resubmits, tr.OutcomeUnknown = tr.Resubmits+1, true
	return a.HandToTracker(ctx, tr, outcome{})
}

// resubmit submits the original cart again after it never reached placement (the Rye seed:
// safe when the events list stayed empty for NeverStartedAfter).
func (t *Tracker) resubmit(ctx context.Context, tr schemas.Tracking, prov provider.Provider) error {
	a, err := t.lease(ctx, tr, idempotency.StateSubmitted)
	if a == nil || err != nil {
		return err
	}
	if err := a.BeginSubmit(ctx); err != nil {
		return err
	}
	t.cfg.Logger.Info("cart never reached placement: resubmitting the original cart", "order_id", tr.OrderID, "attempt", tr.Attempt, "cart_id", tr.CartID)
	_, err = prov.Submit(ctx, submitRequest(tr.Request, tr.CartID))
	if err != nil {
		if ierr := notAnswered(ctx, err); ierr != nil {
			if errors.Is(ierr, provider.ErrNotCalled) {
				// Not sent: back to submitted under this chain; the retried record resubmits.
				if err := a.Refused(ctx); err != nil {
					return errors.Join(ierr, err)
				}
			}
			return ierr
		}
		pe := asProviderError(err, "submit", true)
		t.cfg.providerFailed(tr.Request, provider.OpSubmit, tr.CartID, pe)
		switch pe.Class {
		case provider.ClassOutcomeUnknown, provider.ClassAlreadySubmitted:
			// It may have gone through: keep polling; the never-started clock restarts.
		case provider.ClassRetryable, provider.ClassRateLimited:
			// Refused with certainty: nothing happened to the cart. Not a resubmit against
			// MaxResubmits: the tracker tries again after a backoff, until the deadline. A
			// 429 never counts as a failure; a retryable refusal counts against the failure
			// policy's MaxRetries, like a refused submit in the worker, so a refusal that
			// never goes away (a product that stays unavailable) ends as attempts-exhausted
			// instead of retrying until the deadline.
			if err := t.recordAnswer(ctx, tr, pe); err != nil {
				return err
			}
			if pe.Class == provider.ClassRetryable {
				tr.Refusals++
			}
			if now, deadline := t.cfg.Now(), t.cfg.Policy.Deadline(tr.Request); !now.After(deadline) && tr.Refusals < t.cfg.Policy.MaxRetries {
				return t.refused(ctx, tr, a, pe, now, deadline)
			}
			// Past the order's deadline or the retries: give it to the retry path (reconciler)
			// like any retryable submit failure; the policy decides (a retry tier, or a dead
			// letter: deadline-passed, attempts-exhausted).
			o, err := t.cfg.failed(ctx, tr.Request, tr.CartID, pe, false)
			if err != nil {
				return err
			}
			return a.HandToReconciler(ctx, o)
		default:
			o, err := t.cfg.failed(ctx, tr.Request, tr.CartID, pe, true)
			if err != nil {
				return err
			}
			return a.Fail(ctx, o)
		}
	}
	tr.Resubmits++
	// Every resubmit is its own event: its number is part of the id. A redelivery of this
	// record resubmits under the same number (or recovers it without an event).
	st := t.cfg.statusOf(tr.Request, StatusResubmitted, strconv.Itoa(tr.Resubmits), tr.CartID, "", "")
	st.Message = fmt.Sprintf("no placement events after %v: resubmitted the original cart (resubmit %d)", t.cfg.NeverStartedAfter, tr.Resubmits)
	return a.HandToTracker(ctx, tr, outcome{Status: []schemas.OrderStatus{st}})
}

// refused puts a cart whose resubmit the provider refused with certainty back in submitted
// under the same chain (Refused), and polls it again after refusalBackoff: if it still never
// started, it is resubmitted then. The state moves before the next record is produced: after a
// crash in between, the redelivered record (same chain, submitted) resubmits at once instead
// of taking the refusal for a lost answer.
func (t *Tracker) refused(ctx context.Context, tr schemas.Tracking, a *attempt, pe *provider.Error, now, deadline time.Time) error {
	wait := t.refusalBackoff(tr, pe, now, deadline)
	t.cfg.Logger.Info("resubmit refused; resubmitting after a backoff", "order_id", tr.OrderID, "attempt", tr.Attempt, "cart_id", tr.CartID,
		"class", pe.Class, "code", pe.Code, "wait", wait, "deadline", deadline)
	if err := a.Refused(ctx); err != nil {
		return err
	}
	return t.reschedule(ctx, tr, wait)
}

// refusalBackoff is how long a refused cart waits before its next resubmit: as long as it has
// waited since it became due for one (NeverStartedAfter after its last resubmit), so the waits
// double, within [PollInterval, NeverStartedAfter], jittered by ±20%, at least the provider's
// RetryAfter, and ending just past the order's deadline at the latest, so that the last
// resubmit is made at the deadline. The tracking record carries no retry count: the time waited
// is the state.
func (t *Tracker) refusalBackoff(tr schemas.Tracking, pe *provider.Error, now, deadline time.Time) time.Duration {
	waited := now.Sub(tr.SubmittedAt.Add(t.cfg.NeverStartedAfter))
	d := min(max(waited, t.cfg.PollInterval), t.cfg.NeverStartedAfter)
	d = max(backoff.Jitter(d), pe.RetryAfter)
	return min(d, deadline.Sub(now)+time.Millisecond)
}

// recordAnswer appends a provider's answer to a resubmit to the order's history, unless the
// last entry is the same answer for the same cart: a cart refused for hours is one entry (the
// logs have every refusal), so the history, and the dead letter that carries it, stay small.
func (t *Tracker) recordAnswer(ctx context.Context, tr schemas.Tracking, pe *provider.Error) error {
	a := attemptOf(tr.Request, PhaseSubmission, tr.CartID, pe, t.cfg.Now(), 0)
	history, err := t.cfg.history(ctx, tr.OrderID)
	if err != nil {
		return err
	}
	if n := len(history); n > 0 && sameAnswer(history[n-1], a) {
		return nil
	}
	return t.cfg.record(ctx, tr.OrderID, a)
}

// sameAnswer reports whether two history entries are the same answer about the same cart.
func sameAnswer(a, b schemas.Attempt) bool {
	return a.Attempt == b.Attempt && a.Phase == b.Phase && a.CartID == b.CartID && a.Code == b.Code &&
		a.HTTPStatus == b.HTTPStatus && (a.Retryable == nil) == (b.Retryable == nil) &&
		(a.Retryable == nil || *a.Retryable == *b.Retryable)
}

// finish ends the attempt from the placement seen: per merchant order placed, failed (a
// failure event for the reconciler) or, when stuck is set, needs attention.
// rec is the attempt as handle read it (submitted under tr's chain); the store checks that again
// as it ends the attempt (FinishChain).
func (t *Tracker) finish(ctx context.Context, rec idempotency.Record, tr schemas.Tracking, pl provider.Placement, stuck error) error {
	req := tr.Request
	var o outcome
	placed, failed, attention := 0, 0, 0
	orders := pl.Orders
	if len(orders) == 0 {
		orders = []provider.OrderPlacement{{}}
	}
	for i, mo := range orders {
		items := itemsOf(req.Items, orders, i)
		switch mo.Phase() {
		case provider.PhasePlaced:
			placed++
			for _, m := range merchants(items) {
				o.Status = append(o.Status, t.cfg.status(req, StatusPlaced, tr.CartID, m, mo.OrderID))
			}
		case provider.PhaseFailed:
			failed++
			ev, _ := mo.Failure()
			st := t.cfg.status(req, StatusFailed, tr.CartID, mo.Merchant, mo.OrderID)
			st.Code, st.Message = ev.ReasonCode, ev.Reason
			o.Status = append(o.Status, st)
			o.Failures = append(o.Failures, t.placementFailure(tr, mo, items, ev))
		case provider.PhaseActionRequired:
			// Past its deadline (the tracker ends an attempt with a waiting merchant order
			// only then). Never replaced: the customer may still complete the challenge.
			failed++
			ra, _ := mo.RequiredAction()
			msg := fmt.Sprintf("the customer did not complete %s within %v", ra.Kind, t.cfg.ActionTimeout)
			st := t.cfg.status(req, StatusFailed, tr.CartID, mo.Merchant, mo.OrderID)
			st.Code, st.Message = ClassActionTimeout, msg
			o.Status = append(o.Status, st)
			f := t.placementFailure(tr, mo, items, provider.Event{Reason: msg, ReasonCode: ClassActionTimeout})
			f.Class, f.Action = ClassActionTimeout, string(timeoutAction(ra))
			o.Failures = append(o.Failures, f)
		default:
			attention++
			if stuck == nil {
				stuck = errors.New("not placed when the attempt ended")
			}
			st := t.cfg.status(req, StatusFailed, tr.CartID, mo.Merchant, mo.OrderID)
			st.Code, st.Message = ClassStuck, stuck.Error()
			o.Status = append(o.Status, st)
			f := t.placementFailure(tr, mo, items, provider.Event{Reason: stuck.Error(), ReasonCode: mo.Phase().String()})
			f.Class, f.Action = ClassStuck, string(provider.ActionContactProvider)
			o.Failures = append(o.Failures, f)
		}
	}
	result := StatusPlaced
	switch {
	case attention > 0:
		result = StatusNeedsAttention
	case failed > 0:
		result = StatusFailed
	}
	if result == StatusPlaced {
		o.Status = append(o.Status, t.cfg.status(req, StatusPlaced, tr.CartID, "", ""))
	}
	err := t.cfg.tracked(rec).FinishChain(ctx, Fingerprint(req), result, o)
	if err == nil {
		t.cfg.Metrics.tracked(tr.Polls)
	}
	if errors.Is(err, idempotency.ErrState) {
		// Since the poll, another chain took over or the attempt moved on: nothing left to do.
		t.cfg.Logger.Debug("dropping a tracking record whose attempt moved on", "order_id", tr.OrderID, "attempt", tr.Attempt, "chain", tr.Chain, "err", err)
		return nil
	}
	return err
}

// itemsOf returns the request items that orders[i] holds: those whose product id the provider
// reports on the order (exactly as sent), else those of its merchant, else, for a cart with a
// single order, every item. A merchant order of a larger cart that neither identifies gets
// the items no other order of the cart claims (every item if they claim them all).
func itemsOf(items []schemas.Item, orders []provider.OrderPlacement, i int) []schemas.Item {
	mo := orders[i]
	if out := claimed(items, mo); len(out) > 0 {
		return out
	}
	if len(orders) <= 1 {
		return items
	}
	var out []schemas.Item
	for _, it := range items {
		mine := true
		for j, other := range orders {
			if j != i && len(claimed([]schemas.Item{it}, other)) > 0 {
				mine = false
				break
			}
		}
		if mine {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		return items
	}
	return out
}

// claimed returns the items mo identifies: by the product ids it reports, else by merchant.
func claimed(items []schemas.Item, mo provider.OrderPlacement) []schemas.Item {
	var out []schemas.Item
	if len(mo.Items) > 0 {
		for _, it := range items {
			if slices.ContainsFunc(mo.Items, func(p provider.Item) bool { return p.ProductID == it.ProductID }) {
				out = append(out, it)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	if mo.Merchant == "" {
		return nil
	}
	for _, it := range items {
		if it.Merchant == mo.Merchant {
			out = append(out, it)
		}
	}
	return out
}

func (t *Tracker) placementFailure(tr schemas.Tracking, mo provider.OrderPlacement, items []schemas.Item, ev provider.Event) schemas.OrderFailure {
	req := tr.Request
	class := provider.ClassUnknownRetryability
	action := provider.ActionInvestigate
	switch {
	case ev.Retryable == nil: // the provider did not say: a person must look
	case *ev.Retryable:
		class, action = provider.ClassRetryable, provider.ActionNone
	default:
		class, action = provider.ClassNotRetryable, ev.Action // the adapter's mapping of its reason code
		if action == provider.ActionNone {
			action = provider.ActionInvestigate
		}
	}
	return schemas.OrderFailure{
		EventID: EventID(req.OrderID, req.Attempt, mo.Merchant, "failure/placement"), OrderID: req.OrderID, Attempt: req.Attempt,
		Provider: req.Provider, Phase: PhasePlacement, Class: class.String(), Code: ev.ReasonCode, Message: ev.Reason,
		Retryable: ev.Retryable, CartID: tr.CartID, Merchant: mo.Merchant, MerchantOrderID: mo.OrderID,
		Action: string(action), FailedItems: items, Request: req, At: t.cfg.Now().UTC(),
	}
}
