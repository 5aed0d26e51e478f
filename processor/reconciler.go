package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/backoff"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/tracecontext"
)

// RetriesAttribute counts the delay-tier retries of an attempt on its OrderRequested. It is
// not part of the fingerprint.
const RetriesAttribute = "orderflow.retries"

// Reconciler applies the failure policy to failure events (orders.failures).
type Reconciler struct{ cfg *Config }

// Handle decides one failure. Every effect is deterministic (event ids, replacement attempt
// numbers), so a redelivered failure repeats the same effects and downstream dedupes them.
func (c *Reconciler) Handle(ctx context.Context, r *kgo.Record) error {
	return decoding[schemas.OrderFailure]{c.cfg, "failure event", (*schemas.Codec).DecodeOrderFailure, c.handle}.Handle(ctx, r)
}

// handle decides one decoded failure event.
func (c *Reconciler) handle(ctx context.Context, r *kgo.Record, f schemas.OrderFailure) error {
	retries, _ := strconv.Atoi(f.Request.Attributes[RetriesAttribute])
	d := c.cfg.Policy.Decide(f, retries, c.cfg.Now())
	c.cfg.Logger.Info("reconciling a failure", "order_id", f.OrderID, "attempt", f.Attempt, "merchant", f.Merchant,
		"phase", f.Phase, "class", f.Class, "code", f.Code, "decision", d.Do, "rule", d.Rule)
	switch d.Do {
	case DoRetry:
		if live, err := c.stillOpen(ctx, f); !live || err != nil {
			return err
		}
		return c.retry(ctx, f, retries)
	case DoReplace:
		return c.replace(ctx, f)
	}
	return c.deadLetter(ctx, r, f, d)
}

// tierDelay is the jittered delay of tier i.
func (c *Reconciler) tierDelay(i int) time.Duration {
	tiers := c.cfg.Topology.Tiers
	d := tiers[min(i, len(tiers)-1)].Delay
	return backoff.Jitter(d)
}

func (c *Reconciler) retry(ctx context.Context, f schemas.OrderFailure, retries int) error {
	req := f.Request
	attrs := make(map[string]string, len(req.Attributes)+1)
	for k, v := range req.Attributes {
		attrs[k] = v
	}
	attrs[RetriesAttribute] = strconv.Itoa(retries + 1)
	req.Attributes = attrs
	st := c.cfg.statusOf(req, StatusRetryScheduled, strconv.Itoa(retries+1), f.CartID, f.Merchant, f.MerchantOrderID)
	st.Code = f.Code
	return c.cfg.emit(ctx, outcome{Status: []schemas.OrderStatus{st}},
		producer.Message{Topic: c.cfg.Topology.Retry(retries), Key: req.OrderID, Value: req, Due: c.cfg.Now().Add(c.tierDelay(retries))})
}

// replace requests a new cart holding only the failed items, as a new attempt.
func (c *Reconciler) replace(ctx context.Context, f schemas.OrderFailure) error {
	next, err := c.cfg.Store.AllocateAttempt(ctx, f.OrderID, f.EventID, f.Attempt)
	if err != nil {
		return err
	}
	req := f.Request
	req.Attempt = next
	req.Items = f.FailedItems
	req.ReplacesCartID = f.CartID
	attrs := map[string]string{}
	for k, v := range f.Request.Attributes {
		if k != RetriesAttribute && k != ReuseCartAttribute {
			attrs[k] = v
		}
	}
	req.Attributes = attrs
	st := c.cfg.status(f.Request, StatusReplaced, f.CartID, f.Merchant, f.MerchantOrderID)
	st.Code, st.Message = f.Code, fmt.Sprintf("replaced by attempt %d", next)
	return c.cfg.emit(ctx, outcome{Status: []schemas.OrderStatus{st}},
		producer.Message{Topic: c.cfg.Topology.Retry(0), Key: req.OrderID, Value: req, Due: c.cfg.Now().Add(c.tierDelay(0))})
}

// deadLetter parks the failure with its history and the action needed, and closes the attempt
// so that no duplicate request can resume it.
func (c *Reconciler) deadLetter(ctx context.Context, r *kgo.Record, f schemas.OrderFailure, d Decision) error {
	if ok, err := c.close(ctx, f); !ok || err != nil {
		return err
	}
	history, err := c.cfg.history(ctx, f.OrderID)
	if err != nil {
		return err
	}
	state := StatusDeadLettered
	if d.Do == DoNeedsAttention {
		state = StatusNeedsAttention
	}
	final := c.cfg.final(f.Request, state, f.FailedItems, f.CartID, f.Code, d.Action, f.Message)
	req := f.Request
	dl := schemas.DeadLetter{
		DeadLetterID: EventID(f.OrderID, f.Attempt, f.Merchant, "dlq"), OrderID: f.OrderID, Attempt: f.Attempt,
		Provider: f.Provider, Reason: reason(f), Action: d.Action, Rule: d.Rule, Code: f.Code, Retryable: f.Retryable,
		CartID: f.CartID, SourceTopic: r.Topic, SourcePartition: r.Partition, SourceOffset: r.Offset,
		Request: &req, Attempts: history, ReplayCount: req.ReplayCount, TraceContext: traceContext(r), At: c.cfg.Now().UTC(),
	}
	// For the replay tool (see replay.go): which merchant order failed, with which items, and the failure itself.
	dl.Merchant, dl.Phase, dl.FailedItems, dl.ReplayID = f.Merchant, f.Phase, f.FailedItems, req.ReplayID
	dl.Attempts = withFinalFailure(dl.Attempts, f)
	return c.cfg.emit(ctx, outcome{Status: final}, producer.Message{Topic: c.cfg.Topology.DLQ(), Key: f.OrderID, Value: dl})
}

// errAttemptBusy: the attempt is being submitted right now; the failure is looked at again
// once that submit has an answer.
var errAttemptBusy = errors.New("the attempt is being submitted: reconciling later")

// stillOpen reports whether the failed attempt still waits for the reconciler (reserved or
// cart created). An attempt that moved on (submitted again, or ended) makes the failure stale.
func (c *Reconciler) stillOpen(ctx context.Context, f schemas.OrderFailure) (bool, error) {
	rec, err := c.cfg.Store.Get(ctx, f.OrderID, f.Attempt)
	if err != nil {
		return false, err
	}
	switch rec.State {
	case idempotency.StateSubmitting:
		return false, errAttemptBusy
	case idempotency.StateSubmitted, idempotency.StateTerminal:
		c.cfg.Logger.Info("stale failure: the attempt moved on", "order_id", f.OrderID, "attempt", f.Attempt, "state", rec.State)
		return false, nil
	}
	return true, nil
}

// close makes the attempt terminal before it is dead-lettered, and reports whether the dead
// letter stands. It does not when another submit of the attempt is in flight or was placed:
// that submit's own outcome decides, so a merchant order never gets two terminal statuses.
func (c *Reconciler) close(ctx context.Context, f schemas.OrderFailure) (bool, error) {
	rec, err := c.cfg.Store.Get(ctx, f.OrderID, f.Attempt)
	if err != nil {
		return false, err
	}
	switch rec.State {
	case idempotency.StateNone:
		return true, nil // expired past the store's TTL: nothing can resume it
	case idempotency.StateTerminal:
		return Status(rec.Outcome) != StatusPlaced, nil
	case idempotency.StateSubmitting:
		return false, errAttemptBusy
	case idempotency.StateSubmitted:
		c.cfg.Logger.Info("not dead-lettering: the attempt was submitted again", "order_id", f.OrderID, "attempt", f.Attempt)
		return false, nil
	}
	a, err := c.cfg.acquire(ctx, f.OrderID, f.Attempt, f.Request)
	if err != nil {
		return false, err
	}
	switch a.State() {
	case idempotency.StateTerminal:
		return Status(a.rec.Outcome) != StatusPlaced, nil
	case idempotency.StateReserved, idempotency.StateCartCreated:
		err := a.DeadLetter(ctx)
		return err == nil, err
	}
	// It moved between the read and the lease: hand the lease back and look again later.
	if err := a.Release(ctx, outcome{}); err != nil {
		return false, err
	}
	return false, errAttemptBusy
}

func reason(f schemas.OrderFailure) string {
	s := f.Phase + " failed"
	if f.Code != "" {
		s += ": " + f.Code
	}
	if f.Message != "" {
		s += ": " + f.Message
	}
	return s
}

// traceContext is the trace context r carries (tracecontext.Of), the same headers the
// producer copies onto every record produced while handling r (tracecontext.With).
func traceContext(r *kgo.Record) map[string]string {
	out := map[string]string{}
	for _, h := range tracecontext.Of(r) {
		out[h.Key] = string(h.Value)
	}
	return out
}
