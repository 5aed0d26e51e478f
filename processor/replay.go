package processor

// This file holds what the worker and the reconciler need for replays from the dead-letter
// topic (`orderflow dlq replay`, package dlq). It is kept apart from worker.go on purpose.

import (
	"context"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// ReuseCartAttribute, on a replayed OrderRequested (ReplayID set), names a cart the replay
// tool already fixed in place: a Digital River checkout refused with a non-409 4xx, which the
// provider lets us update and resubmit under the same id. The worker records that cart for the
// new attempt instead of creating one, then submits it as usual. A request without ReplayID
// never reuses a cart, and the reconciler never copies the attribute to a replacement attempt.
const ReuseCartAttribute = "orderflow.reuse_cart"

// reusedCart is the cart a replayed request asks the worker to reuse, or "".
func reusedCart(req schemas.OrderRequested) string {
	if req.ReplayID == "" {
		return ""
	}
	return req.Attributes[ReuseCartAttribute]
}

// reuseCart records cartID as the attempt's cart (reserved -> submitting, as if CreateCart
// had returned it: BeginSubmitCart) and submits it. The usual guards hold: the cart id is recorded before the
// submit, and a lost submit answer goes to polling. Submitting a checkout that was consumed in
// the meantime answers ClassAlreadySubmitted, which is polled, never resubmitted.
func (w *Worker) reuseCart(ctx context.Context, req schemas.OrderRequested, a *attempt, prov provider.Provider, cartID string) error {
	w.cfg.Logger.Info("replay reuses a fixed cart", "order_id", req.OrderID, "attempt", req.Attempt, "cart_id", cartID, "replay", req.ReplayID)
	return w.submitNew(ctx, req, a, prov, cartID)
}

// withFinalFailure returns history with f appended unless its last entry already records f
// (the worker records every failed provider call; the tracker's placement failures are not).
func withFinalFailure(history []schemas.Attempt, f schemas.OrderFailure) []schemas.Attempt {
	if n := len(history); n > 0 {
		last := history[n-1]
		if last.Attempt == f.Attempt && last.Phase == f.Phase && last.Code == f.Code {
			return history
		}
	}
	return append(history, schemas.Attempt{At: f.At, Attempt: f.Attempt, Phase: f.Phase, Code: f.Code, Message: f.Message,
		Retryable: f.Retryable, HTTPStatus: f.HTTPStatus, RequestID: f.RequestID, CartID: f.CartID})
}
