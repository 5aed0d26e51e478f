package processor

import (
	"context"

	"github.com/orderflow/orderflow/idempotency"
)

// Stage is how far an order attempt got, in the terms a tool outside the roles decides on
// (the dead-letter tool: may a replay charge twice?).
type Stage int

const (
	// StageNone: the store holds no record (never reserved, or expired past its TTL).
	StageNone Stage = iota
	// StageOpen: reserved or cart created; no submit is in flight or was answered. A role (a
	// redelivery, a retry, the reconciler) may still move it on.
	StageOpen
	// StageSubmitted: a submit is in flight, or was made and the tracker follows the cart; the
	// outcome is not known yet.
	StageSubmitted
	// StageEnded: the attempt ended (Outcome says how).
	StageEnded
)

// AttemptView is a read-only look at one order attempt, for tools that must not move it: it
// takes no lease and has no operations.
type AttemptView struct {
	rec idempotency.Record
}

// ViewAttempt reads attempt n of orderID without taking its lease.
func ViewAttempt(ctx context.Context, store *idempotency.Store, orderID string, n int) (AttemptView, error) {
	rec, err := store.Get(ctx, orderID, n)
	return AttemptView{rec: rec}, err
}

// Stage is how far the attempt got.
func (v AttemptView) Stage() Stage {
	switch v.rec.State {
	case idempotency.StateNone:
		return StageNone
	case idempotency.StateReserved, idempotency.StateCartCreated:
		return StageOpen
	case idempotency.StateSubmitting, idempotency.StateSubmitted:
		return StageSubmitted
	}
	return StageEnded
}

// State is where the attempt stands in the store, for display.
func (v AttemptView) State() string { return string(v.rec.State) }

// CartID is the attempt's cart at its provider, "" before one was created.
func (v AttemptView) CartID() string { return v.rec.CartID }

// Outcome is how an ended attempt ended (placed, failed, needs_attention, dead_lettered), ""
// for one that has not.
func (v AttemptView) Outcome() Status { return Status(v.rec.Outcome) }

// PlacedMerchants are the merchants whose order an ended attempt placed, from the status events
// it stored (what a duplicate re-emits). The error says the stored outcome is undecodable.
func (v AttemptView) PlacedMerchants() ([]string, error) {
	o, err := decodeOutcome(v.rec.OutcomeData)
	var out []string
	for _, s := range o.Status {
		if Status(s.State) == StatusPlaced && s.Merchant != "" {
			out = append(out, s.Merchant)
		}
	}
	return out, err
}

// ActionTimedOut reports whether an ended attempt ended with a merchant order whose customer
// did not complete a required action (3-D Secure) in time. The customer may complete it even
// after the deadline, so the replay tool asks the provider before replaying such an attempt.
func (v AttemptView) ActionTimedOut() bool {
	o, err := decodeOutcome(v.rec.OutcomeData)
	if err != nil {
		return false
	}
	for _, f := range o.Failures {
		if f.Class == ClassActionTimeout {
			return true
		}
	}
	return false
}
