package dlq

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
)

// Results of a replay, as recorded in audit records.
const (
	ResultSubmitted = "submitted" // a new attempt was published
	ResultNoop      = "noop"      // nothing to do (already placed, superseded, already replayed)
	ResultRefused   = "refused"   // not replayed: outcome unknown, cap reached, not replayable
	ResultFailed    = "failed"    // the patch or the checkout fix failed; nothing was published
	ResultDryRun    = "dry-run"   // labelled only
)

// ReplayOfAttribute, on a replayed OrderRequested, is the dead letter it replays.
const ReplayOfAttribute = "orderflow.replay_of"

// Result is what Replay did with one dead letter.
type Result struct {
	Plan
	Result string
	// Published is the attempt published (ResultSubmitted), else 0.
	Published int
	// Reason explains a failed or refused result beyond the plan's detail.
	Reason string
	Forced bool
}

// NewReplayID returns a fresh replay id: the time and 6 random hex digits.
func NewReplayID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "r" + now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// Replay inspects and replays the selected dead letters, one at a time, and records every
// decision on the replays topic (unless opts.DryRun). all are every dead letter read, for
// Inspect. It stops at the first error of the store or of Kafka, returning the results so far;
// a dead letter whose patch or checkout fix fails is a ResultFailed result, not an error.
func (t *Tool) Replay(ctx context.Context, all, selected []Entry, opts Options) ([]Result, error) {
	if opts.ReplayID == "" {
		return nil, errors.New("dlq: a replay id is required")
	}
	if !opts.DryRun && t.cfg.Sender == nil {
		return nil, errors.New("dlq: replay needs a sender")
	}
	results := make([]Result, 0, len(selected))
	for _, e := range selected {
		p, err := t.Inspect(ctx, all, e.DeadLetter, opts)
		if err != nil {
			return results, fmt.Errorf("inspecting dead letter %s: %w", e.DeadLetterID, err)
		}
		r := Result{Plan: p, Result: ResultDryRun}
		if !opts.DryRun {
			if r, err = t.replay(ctx, p, opts); err != nil {
				return results, fmt.Errorf("replaying dead letter %s: %w", e.DeadLetterID, err)
			}
		}
		results = append(results, r)
		if opts.Progress != nil {
			opts.Progress(r)
		}
	}
	return results, nil
}

// replay carries out one plan and records it.
func (t *Tool) replay(ctx context.Context, p Plan, opts Options) (Result, error) {
	r := Result{Plan: p}
	d := p.DeadLetter
	switch p.Label {
	case LabelAlreadyPlaced, LabelSuperseded, LabelAlreadyReplayed:
		r.Result = ResultNoop
	case LabelNotReplayable:
		r.Result = ResultRefused
	case LabelCheckoutConsumed:
		r.Result = ResultRefused // never forced: the consumed checkout's order may still charge
	case LabelOutcomeUnknown, LabelCapReached:
		if !opts.Force {
			r.Result = ResultRefused
			break
		}
		r.Forced = true
		p.ReuseCart = t.reusableCart(d, opts)
		if _, ok := t.cfg.Providers[d.Provider].(CheckoutFixer); p.ReuseCart != "" && !ok {
			r.Result, r.Reason = ResultRefused, "fixing the checkout needs a "+d.Provider+" client"
			break
		}
		fallthrough
	case LabelWillSubmit:
		if err := t.limiter.Wait(ctx); err != nil {
			return r, err
		}
		return t.publish(ctx, p, r, opts)
	default:
		return r, fmt.Errorf("dlq: unknown label %q", p.Label)
	}
	t.cfg.Logger.Info("dead letter not replayed", "dead_letter", d.DeadLetterID, "order", d.OrderID, "label", p.Label, "result", r.Result)
	return r, t.cfg.Sender.Send(ctx, t.audit(r, opts))
}

// publish builds the new attempt's request, fixes the checkout if the plan reuses it, allocates
// the attempt number and publishes the request with its audit record.
func (t *Tool) publish(ctx context.Context, p Plan, r Result, opts Options) (Result, error) {
	d := p.DeadLetter
	req := *d.Request
	req.Items = slices.Clone(p.Items)
	req.ReplayID, req.ReplayCount = opts.ReplayID, replays(d)+1
	req.Attributes = map[string]string{}
	for k, v := range d.Request.Attributes {
		if k != processor.RetriesAttribute && k != processor.ReuseCartAttribute && k != ReplayOfAttribute {
			req.Attributes[k] = v
		}
	}
	req.Attributes[ReplayOfAttribute] = d.DeadLetterID
	req.ReplacesCartID = d.CartID
	if err := opts.Patch.Apply(&req); err != nil {
		r.Result, r.Reason = ResultFailed, err.Error()
		return r, t.cfg.Sender.Send(ctx, t.audit(r, opts))
	}
	if p.ReuseCart != "" {
		req.ReplacesCartID = ""
		req.Attributes[processor.ReuseCartAttribute] = p.ReuseCart
		if err := t.fixCheckout(ctx, p, req, opts); err != nil {
			r.Result, r.Reason = ResultFailed, fmt.Sprintf("fixing checkout %s: %v", p.ReuseCart, err)
			if provider.ClassOf(err) == provider.ClassAlreadySubmitted {
				// The client looked the checkout's orders up after the refusal and found one.
				r.Result, r.Reason = ResultRefused, fmt.Sprintf("checkout %s was consumed meanwhile (%v): run the dry run again to see whether it placed", p.ReuseCart, err)
			}
			return r, t.cfg.Sender.Send(ctx, t.audit(r, opts))
		}
	}
	n, err := t.cfg.Store.AllocateAttempt(ctx, d.OrderID, replayReason(opts.ReplayID, d.DeadLetterID), p.floor)
	if err != nil {
		return r, err
	}
	req.Attempt = n
	r.Result, r.Published = ResultSubmitted, n
	var headers []kgo.RecordHeader
	for _, k := range slices.Sorted(maps.Keys(d.TraceContext)) {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(d.TraceContext[k])})
	}
	t.cfg.Logger.Info("replaying a dead letter", "dead_letter", d.DeadLetterID, "order", d.OrderID, "attempt", n,
		"replay", opts.ReplayID, "reuse_cart", p.ReuseCart, "patched", opts.Patch.Fields())
	return r, t.cfg.Sender.Send(ctx,
		producer.Message{Topic: t.cfg.Topology.Requests(), Key: d.OrderID, Value: req, Headers: headers},
		t.audit(r, opts))
}

// fixCheckout makes the refused checkout match the patched request: buyer as shipTo, billTo
// and e-mail, the payment source if patched. Items are never changed on a checkout (a patch of
// items replays with a new checkout, see reusableCart). Every refusal of the update is decided by
// the client after it looked the checkout's orders up: a consumed checkout is ClassAlreadySubmitted.
func (t *Tool) fixCheckout(ctx context.Context, p Plan, req schemas.OrderRequested, opts Options) error {
	fixer, ok := t.cfg.Providers[p.DeadLetter.Provider].(CheckoutFixer)
	if !ok {
		return fmt.Errorf("no %s client to fix checkouts with", p.DeadLetter.Provider)
	}
	b := req.Buyer
	buyer := provider.Buyer{FirstName: b.FirstName, LastName: b.LastName, Email: b.Email, Phone: b.Phone,
		Address1: b.Address1, Address2: b.Address2, City: b.City, ProvinceCode: b.ProvinceCode,
		PostalCode: b.PostalCode, CountryCode: b.CountryCode}
	patch := provider.CheckoutPatch{ShipTo: &buyer, BillTo: &buyer, Email: b.Email}
	if err := fixer.UpdateCheckout(ctx, p.ReuseCart, patch); err != nil {
		return err
	}
	if opts.Patch.Has("payment_ref") {
		return fixer.AttachSource(ctx, p.ReuseCart, req.PaymentRef)
	}
	return nil
}

// audit is the replays-topic record of r.
func (t *Tool) audit(r Result, opts Options) producer.Message {
	d := r.DeadLetter
	// The same decision (replay id, dead letter, label, result, attempt) has the same id, so a
	// reader can dedupe re-sent audit records; another run with another result gets its own.
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%d", opts.ReplayID, d.DeadLetterID, r.Label, r.Result, r.Published))
	reason := r.Detail
	if r.Reason != "" {
		reason = r.Reason
	}
	a := schemas.ReplayAudit{
		AuditID: hex.EncodeToString(h[:16]), ReplayID: opts.ReplayID, DeadLetterID: d.DeadLetterID, OrderID: d.OrderID,
		Provider: d.Provider, Merchant: d.Merchant, Action: d.Action, Label: string(r.Label), Result: r.Result,
		Reason: reason, SourceAttempt: d.Attempt, Attempt: r.Published, CartID: r.ReuseCart,
		PatchedFields: opts.Patch.Fields(), Forced: r.Forced, Operator: t.cfg.Operator, At: t.cfg.Now().UTC(),
	}
	if r.Result == ResultSubmitted {
		a.ReplayCount = replays(d) + 1
	}
	key := d.OrderID
	if key == "" {
		key = d.DeadLetterID
	}
	return producer.Message{Topic: t.cfg.Topology.Replays(), Key: key, Value: a}
}
