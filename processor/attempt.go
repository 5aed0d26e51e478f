package processor

import (
	"context"
	"fmt"
	"slices"

	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
)

// attempt is one order attempt under this process's lease: the idempotency record and the
// roles' runtime (store and event sender). Its operations are the only transitions the roles
// make, and each holds the ordering rule that keeps it crash-safe (ARCHITECTURE.md, "The order
// attempt"): callers say what happened, the attempt says in which order the store and Kafka
// learn it.
//
// An operation not allowed in the attempt's current state returns an error wrapping
// idempotency.ErrState and changes nothing, neither in the store nor on Kafka. An operation
// whose store write fails leaves the attempt as it was.
type attempt struct {
	cfg *Config
	rec idempotency.Record
	// submitFrom is the state BeginSubmit left: where Refused steps back to.
	submitFrom idempotency.State
	// held is what an operation recorded but did not produce (BeginSubmitCart's cart_created
	// status): the next operation that produces sends it first, in the same Send.
	held outcome
}

// acquire takes the lease on attempt n of orderID for req (see idempotency.Store.Acquire).
func (c *Config) acquire(ctx context.Context, orderID string, n int, req schemas.OrderRequested) (*attempt, error) {
	rec, err := c.Store.Acquire(ctx, orderID, n, Fingerprint(req), c.Owner)
	if err != nil {
		return nil, err
	}
	return &attempt{cfg: c, rec: rec}, nil
}

// State is where the attempt stands, as of its last operation under this lease.
func (a *attempt) State() idempotency.State { return a.rec.State }

// BeginSubmitCart records the provider's cart and the start of its first submit in one store
// write (reserved -> submitting, the cart id with it): CartCreated and BeginSubmit merged, as no
// provider call comes between them. The cart id is in the store before the submit, and a crash
// after is a lost answer, polled. o (the cart_created status) is held, not produced: it goes
// out first with the next operation's events, recorded before them as CartCreated's would be.
// Refused steps back to cart_created.
func (a *attempt) BeginSubmitCart(ctx context.Context, cartID string, o outcome) error {
	if err := a.move(ctx, "BeginSubmitCart", idempotency.StateSubmitting, idempotency.Change{CartID: cartID}, idempotency.StateReserved); err != nil {
		return err
	}
	a.submitFrom = idempotency.StateCartCreated
	a.held = o
	return nil
}

// BeginSubmit records a submit before it is made (cart_created -> submitting, or submitted ->
// submitting for the tracker's resubmit): from here on a crash is a lost answer, which is
// polled, never submitted blindly.
func (a *attempt) BeginSubmit(ctx context.Context) error {
	from := a.rec.State
	if err := a.move(ctx, "BeginSubmit", idempotency.StateSubmitting, idempotency.Change{}, idempotency.StateCartCreated, idempotency.StateSubmitted); err != nil {
		return err
	}
	a.submitFrom = from
	return nil
}

// Refused steps back after a submit the provider refused with certainty (or that was never
// made): submitting -> the state BeginSubmit left. It is recorded before any wait, so a crash
// during the wait resumes with a plain submit. Back in submitted (the tracker's resubmit), the
// lease is released: the tracking chain, which holds none, has the attempt again. Events held
// by BeginSubmitCart (cart_created) are produced after the move.
func (a *attempt) Refused(ctx context.Context) error {
	to := a.submitFrom
	if to == idempotency.StateNone {
		to = idempotency.StateCartCreated
	}
	if err := a.move(ctx, "Refused", to, idempotency.Change{Release: to == idempotency.StateSubmitted}, idempotency.StateSubmitting); err != nil {
		return err
	}
	return a.emit(ctx, outcome{}) // what BeginSubmitCart held: no later operation of this lease may produce
}

// HandToTracker gives a submitted attempt to the tracker under a new tracking chain (this
// lease's fence): it produces o and the chain's first record, t due after FirstPoll, BEFORE
// the store names the chain live (submitting -> submitted, released). After a crash in
// between the attempt is still submitting: its redelivered record resumes it as a lost answer,
// and the orphan tracking record is dropped by the tracker as stale. It is the worker's
// hand-off after a submit and the tracker's after a resubmit.
func (a *attempt) HandToTracker(ctx context.Context, t schemas.Tracking, o outcome) error {
	if err := a.allowed("HandToTracker", idempotency.StateSubmitting); err != nil {
		return err
	}
	now := a.cfg.Now()
	t.Chain, t.SubmittedAt = a.rec.Fence, now
	if err := a.emit(ctx, o, producer.Message{Topic: a.cfg.Topology.Tracking(), Key: t.OrderID, Value: t, Due: now.Add(a.cfg.pollWait(0))}); err != nil {
		return err
	}
	return a.move(ctx, "HandToTracker", idempotency.StateSubmitted, idempotency.Change{Chain: a.rec.Fence, Release: true}, idempotency.StateSubmitting)
}

// HandToReconciler gives an attempt whose resubmit the tracker stopped retrying to the retry
// path: it produces o (the failure event) BEFORE submitting -> cart_created (released). Until
// the state moves the reconciler waits (a submit is in flight), and after a crash the tracking
// chain's redelivered record recovers the attempt.
func (a *attempt) HandToReconciler(ctx context.Context, o outcome) error {
	if err := a.allowed("HandToReconciler", idempotency.StateSubmitting); err != nil {
		return err
	}
	if err := a.emit(ctx, o); err != nil {
		return err
	}
	return a.move(ctx, "HandToReconciler", idempotency.StateCartCreated, idempotency.Change{Release: true}, idempotency.StateSubmitting)
}

// Fail ends the attempt with a failure (reserved or submitting -> terminal, outcome failed),
// storing o, then emits o: a redelivery re-emits the stored outcome.
func (a *attempt) Fail(ctx context.Context, o outcome) error {
	return a.end(ctx, "Fail", StatusFailed, o, idempotency.StateReserved, idempotency.StateSubmitting)
}

// tracked is the attempt as the tracker read it (Store.Get), under no lease: FinishChain takes
// the lease and ends it in one store write.
func (c *Config) tracked(rec idempotency.Record) *attempt { return &attempt{cfg: c, rec: rec} }

// FinishChain is the tracker's lease and Finish in one store write (Store.Finish; no provider
// call comes between them): an attempt read submitted under tracking chain a.rec.Chain moves
// to terminal (outcome result) storing o, then o is emitted. The store checks again, atomically,
// that it is still submitted under that chain (ErrState otherwise) and that no other owner's
// lease is live (ErrBusy), so a resubmit in flight is never ended under it.
func (a *attempt) FinishChain(ctx context.Context, fingerprint string, result Status, o outcome) error {
	if err := a.allowed("FinishChain", idempotency.StateSubmitted); err != nil {
		return err
	}
	o = a.withHeld(o)
	rec, err := a.cfg.Store.Finish(ctx, a.rec, fingerprint, a.cfg.Owner, idempotency.Change{Outcome: string(result), OutcomeData: o.encode()})
	if err != nil {
		return err
	}
	a.rec, a.held = rec, outcome{}
	return a.cfg.emit(ctx, o)
}

// Release hands the lease back in the same state, then emits o (which may be empty): another
// role (the reconciler, the tracker, a later retry) takes the attempt on from there.
func (a *attempt) Release(ctx context.Context, o outcome) error {
	s := a.rec.State
	if err := a.move(ctx, "Release", s, idempotency.Change{Release: true}, idempotency.StateReserved, idempotency.StateCartCreated, idempotency.StateSubmitting, idempotency.StateSubmitted); err != nil {
		return err
	}
	return a.emit(ctx, o)
}

// DeadLetter closes an attempt no submit of which is in flight or done (reserved or
// cart_created -> terminal, outcome dead_lettered), so no duplicate request can resume it;
// the reconciler emits the dead letter after.
func (a *attempt) DeadLetter(ctx context.Context) error {
	return a.move(ctx, "DeadLetter", idempotency.StateTerminal, idempotency.Change{Outcome: string(StatusDeadLettered)}, idempotency.StateReserved, idempotency.StateCartCreated)
}

func (a *attempt) end(ctx context.Context, op string, result Status, o outcome, from ...idempotency.State) error {
	o = a.withHeld(o) // the stored outcome a redelivery re-emits holds them too
	if err := a.move(ctx, op, idempotency.StateTerminal, idempotency.Change{Outcome: string(result), OutcomeData: o.encode()}, from...); err != nil {
		return err
	}
	a.held = outcome{}
	return a.cfg.emit(ctx, o)
}

// withHeld is o after the held events.
func (a *attempt) withHeld(o outcome) outcome {
	if len(a.held.Status)+len(a.held.Failures) == 0 {
		return o
	}
	return outcome{Status: append(slices.Clip(a.held.Status), o.Status...), Failures: append(slices.Clip(a.held.Failures), o.Failures...)}
}

// emit produces the held events, then o and extra, in one Send (nothing when all are empty).
func (a *attempt) emit(ctx context.Context, o outcome, extra ...producer.Message) error {
	o = a.withHeld(o)
	if len(o.Status)+len(o.Failures)+len(extra) == 0 {
		return nil
	}
	if err := a.cfg.emit(ctx, o, extra...); err != nil {
		return err
	}
	a.held = outcome{}
	return nil
}

// allowed checks the attempt's state before an operation that produces before it moves.
func (a *attempt) allowed(op string, from ...idempotency.State) error {
	if !slices.Contains(from, a.rec.State) {
		return fmt.Errorf("%s on %s in state %q: %w", op, a.rec.Key, a.rec.State, idempotency.ErrState)
	}
	return nil
}

// move is the one store transition of the attempt: from one of from to to, under this lease.
func (a *attempt) move(ctx context.Context, op string, to idempotency.State, c idempotency.Change, from ...idempotency.State) error {
	if err := a.allowed(op, from...); err != nil {
		return err
	}
	rec, err := a.cfg.Store.Transition(ctx, a.rec, to, c, a.rec.State)
	if err != nil {
		return err
	}
	a.rec = rec
	return nil
}
