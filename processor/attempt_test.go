package processor

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
)

const (
	reserved    = idempotency.StateReserved
	cartCreated = idempotency.StateCartCreated
	submitting  = idempotency.StateSubmitting
	submitted   = idempotency.StateSubmitted
	terminal    = idempotency.StateTerminal
)

// attemptOps are the attempt's operations, each given a one-status outcome where it takes one.
var attemptOps = []struct {
	name string
	do   func(context.Context, *attempt, outcome) error
}{
	{"BeginSubmitCart", func(ctx context.Context, a *attempt, o outcome) error { return a.BeginSubmitCart(ctx, "cart-new", o) }},
	{"BeginSubmit", func(ctx context.Context, a *attempt, _ outcome) error { return a.BeginSubmit(ctx) }},
	{"Refused", func(ctx context.Context, a *attempt, _ outcome) error { return a.Refused(ctx) }},
	{"HandToTracker", func(ctx context.Context, a *attempt, o outcome) error {
		return a.HandToTracker(ctx, schemas.Tracking{OrderID: a.rec.Key, Attempt: 1, Provider: "rye", CartID: a.rec.CartID}, o)
	}},
	{"HandToReconciler", func(ctx context.Context, a *attempt, o outcome) error { return a.HandToReconciler(ctx, o) }},
	{"Fail", func(ctx context.Context, a *attempt, o outcome) error { return a.Fail(ctx, o) }},
	{"FinishChain", func(ctx context.Context, a *attempt, o outcome) error {
		return a.FinishChain(ctx, a.rec.Fingerprint, StatusPlaced, o)
	}},
	{"Release", func(ctx context.Context, a *attempt, o outcome) error { return a.Release(ctx, o) }},
	{"DeadLetter", func(ctx context.Context, a *attempt, _ outcome) error { return a.DeadLetter(ctx) }},
}

// allowedMove is where an operation takes an attempt from a state, whether it hands the lease
// back, and how many records it produces (status events and tracking records).
type allowedMove struct {
	to       idempotency.State
	released bool
	produced int
}

// transitions is the attempt's transition table (ARCHITECTURE.md, "The order attempt"): every
// (operation, state) pair not listed is refused.
var transitions = map[string]map[idempotency.State]allowedMove{
	"BeginSubmitCart":  {reserved: {submitting, false, 0}}, // its status is held for the next operation
	"BeginSubmit":      {cartCreated: {submitting, false, 0}, submitted: {submitting, false, 0}},
	"Refused":          {submitting: {cartCreated, false, 0}},
	"HandToTracker":    {submitting: {submitted, true, 2}},
	"HandToReconciler": {submitting: {cartCreated, true, 1}},
	"Fail":             {reserved: {terminal, true, 1}, submitting: {terminal, true, 1}},
	"FinishChain":      {submitted: {terminal, true, 1}},
	"Release": {reserved: {reserved, true, 1}, cartCreated: {cartCreated, true, 1},
		submitting: {submitting, true, 1}, submitted: {submitted, true, 1}},
	"DeadLetter": {reserved: {terminal, true, 0}, cartCreated: {terminal, true, 0}},
}

// inState returns a leased attempt of a fresh order, moved to state through the store
// directly (not through the operations under test).
func inState(t *testing.T, h *harness, order string, state idempotency.State) *attempt {
	t.Helper()
	ctx := context.Background()
	a, err := h.cfg.acquire(ctx, order, 1, testRequest(order))
	if err != nil {
		t.Fatal(err)
	}
	path := map[idempotency.State][]struct {
		to idempotency.State
		c  idempotency.Change
	}{
		reserved:    nil,
		cartCreated: {{cartCreated, idempotency.Change{CartID: "cart-1"}}},
		submitting:  {{cartCreated, idempotency.Change{CartID: "cart-1"}}, {submitting, idempotency.Change{}}},
		submitted: {{cartCreated, idempotency.Change{CartID: "cart-1"}}, {submitting, idempotency.Change{}},
			{submitted, idempotency.Change{Chain: a.rec.Fence}}},
		terminal: {{terminal, idempotency.Change{Outcome: string(StatusFailed)}}},
	}
	for _, step := range path[state] {
		if a.rec, err = h.cfg.Store.Transition(ctx, a.rec, step.to, step.c, a.rec.State); err != nil {
			t.Fatal(err)
		}
	}
	h.statuses, h.tracking, h.failures, h.queue = nil, nil, nil, nil
	return a
}

// leaseFree reports whether another owner may take the attempt's lease now.
func leaseFree(t *testing.T, h *harness, order string) bool {
	t.Helper()
	_, err := h.cfg.Store.Acquire(context.Background(), order, 1, Fingerprint(testRequest(order)), "someone-else")
	if errors.Is(err, idempotency.ErrBusy) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func TestAttemptTransitions(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	for _, op := range attemptOps {
		for _, from := range []idempotency.State{reserved, cartCreated, submitting, submitted, terminal} {
			t.Run(fmt.Sprintf("%s/%s", op.name, from), func(t *testing.T) {
				order := fmt.Sprintf("order-%s-%s", op.name, from)
				a := inState(t, h, order, from)
				before, err := h.cfg.Store.Get(ctx, order, 1)
				if err != nil {
					t.Fatal(err)
				}
				o := outcome{Status: []schemas.OrderStatus{h.cfg.status(testRequest(order), StatusFailed, "cart-1", "", "")}}
				err = op.do(ctx, a, o)
				after, gerr := h.cfg.Store.Get(ctx, order, 1)
				if gerr != nil {
					t.Fatal(gerr)
				}
				produced := len(h.statuses) + len(h.tracking) + len(h.failures)
				want, ok := transitions[op.name][from]
				if !ok {
					if !errors.Is(err, idempotency.ErrState) {
						t.Fatalf("error %v, want ErrState", err)
					}
					if !reflect.DeepEqual(after, before) {
						t.Fatalf("refused operation changed the store:\n got %+v\nwant %+v", after, before)
					}
					if produced != 0 {
						t.Fatalf("refused operation produced %d records", produced)
					}
					if from != terminal && leaseFree(t, h, order) {
						t.Fatal("refused operation released the lease")
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if after.State != want.to || a.State() != want.to {
					t.Fatalf("store state %q, attempt state %q, want %q", after.State, a.State(), want.to)
				}
				if produced != want.produced {
					t.Fatalf("produced %d records, want %d", produced, want.produced)
				}
				if free := leaseFree(t, h, order); free != want.released {
					t.Fatalf("lease free after %s: %v, want %v", op.name, free, want.released)
				}
				switch op.name {
				case "BeginSubmitCart":
					if after.CartID != "cart-new" || after.Submits != before.Submits+1 {
						t.Fatalf("cart id %q submits %d, want cart-new and %d", after.CartID, after.Submits, before.Submits+1)
					}
					if !reflect.DeepEqual(a.held, o) {
						t.Fatalf("held %+v, want %+v", a.held, o)
					}
				case "BeginSubmit":
					if after.Submits != before.Submits+1 {
						t.Fatalf("submits %d, want %d", after.Submits, before.Submits+1)
					}
				case "HandToTracker":
					if after.Chain != a.rec.Fence || h.tracking[0].Chain != a.rec.Fence {
						t.Fatalf("live chain %d, produced chain %d, want the lease's fence %d", after.Chain, h.tracking[0].Chain, a.rec.Fence)
					}
				case "Fail", "FinishChain":
					stored, err := decodeOutcome(after.OutcomeData)
					if err != nil || !reflect.DeepEqual(stored, o) {
						t.Fatalf("stored outcome %+v (%v), want %+v", stored, err, o)
					}
				case "DeadLetter":
					if after.Outcome != string(StatusDeadLettered) {
						t.Fatalf("outcome %q, want %s", after.Outcome, StatusDeadLettered)
					}
				}
			})
		}
	}
}

// TestAttemptRefusedResubmit: a resubmit the provider refused steps back to submitted (the
// tracking chain has it again, under no lease), not to cart_created.
func TestAttemptRefusedResubmit(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	a := inState(t, h, "order-resubmit", submitted)
	if err := a.BeginSubmit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Refused(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := h.cfg.Store.Get(ctx, "order-resubmit", 1)
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != submitted || rec.Chain != a.rec.Fence {
		t.Fatalf("state %q chain %d, want submitted under chain %d", rec.State, rec.Chain, a.rec.Fence)
	}
	if !leaseFree(t, h, "order-resubmit") {
		t.Fatal("lease still held after a refused resubmit")
	}
}

// failingSender refuses every record.
type failingSender struct{}

func (failingSender) Send(context.Context, ...producer.Message) error {
	return errors.New("kafka down")
}

// TestAttemptOrdering: when producing fails, the operations that record then emit have moved
// the store, and those that produce first (a tracking chain, or the failure the reconciler
// waits for, before the state names it) have not.
func TestAttemptOrdering(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		op   string
		from idempotency.State
		// moved: the store moved although producing failed (recorded first).
		moved bool
	}{
		{"Fail", submitting, true},
		{"FinishChain", submitted, true},
		{"Release", cartCreated, true},
		{"HandToTracker", submitting, false},
		{"HandToReconciler", submitting, false},
	} {
		t.Run(tc.op, func(t *testing.T) {
			order := "order-ordering-" + tc.op
			a := inState(t, h, order, tc.from)
			cfg := *h.cfg
			cfg.Events = failingSender{}
			a.cfg = &cfg
			o := outcome{Status: []schemas.OrderStatus{h.cfg.status(testRequest(order), StatusFailed, "cart-1", "", "")}}
			for _, op := range attemptOps {
				if op.name == tc.op {
					if err := op.do(ctx, a, o); err == nil {
						t.Fatal("no error although producing failed")
					}
				}
			}
			rec, err := h.cfg.Store.Get(ctx, order, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.from
			if tc.moved {
				want = transitions[tc.op][tc.from].to
			}
			if rec.State != want {
				t.Fatalf("state %q after a failed produce, want %q", rec.State, want)
			}
		})
	}
}

// TestAttemptView: the dead-letter tool's read-only view names each store state's stage.
func TestAttemptView(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	want := map[idempotency.State]Stage{reserved: StageOpen, cartCreated: StageOpen, submitting: StageSubmitted,
		submitted: StageSubmitted, terminal: StageEnded}
	for from, stage := range want {
		order := "order-view-" + string(from)
		inState(t, h, order, from)
		v, err := ViewAttempt(ctx, h.cfg.Store, order, 1)
		if err != nil {
			t.Fatal(err)
		}
		if v.Stage() != stage || v.State() != string(from) {
			t.Errorf("%s: stage %v state %q, want %v", from, v.Stage(), v.State(), stage)
		}
	}
	v, err := ViewAttempt(ctx, h.cfg.Store, "order-view-none", 1)
	if err != nil || v.Stage() != StageNone {
		t.Fatalf("missing attempt: stage %v (%v), want StageNone", v.Stage(), err)
	}
	if v, _ := ViewAttempt(ctx, h.cfg.Store, "order-view-terminal", 1); v.Outcome() != StatusFailed {
		t.Fatalf("outcome %q, want failed", v.Outcome())
	}
}

// countingSender counts the Sends (awaited produces) and keeps what they carried.
type countingSender struct {
	h     *harness
	sends [][]producer.Message
}

func (c *countingSender) Send(ctx context.Context, msgs ...producer.Message) error {
	c.sends = append(c.sends, msgs)
	return c.h.Send(ctx, msgs...)
}

// TestAttemptHeldStatus: BeginSubmitCart's cart_created status is produced by the next
// operation that produces, first and in the same Send, and is part of a stored outcome; a
// failed produce keeps it for the one after.
func TestAttemptHeldStatus(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		next func(*attempt, outcome) error
	}{
		{"HandToTracker", func(a *attempt, o outcome) error {
			return a.HandToTracker(ctx, schemas.Tracking{OrderID: a.rec.Key, Attempt: 1, Provider: "rye", CartID: a.rec.CartID}, o)
		}},
		{"Fail", func(a *attempt, o outcome) error { return a.Fail(ctx, o) }},
		{"Refused", func(a *attempt, _ outcome) error { return a.Refused(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order := "order-held-" + tc.name
			a := inState(t, h, order, reserved)
			cs := &countingSender{h: h}
			cfg := *h.cfg
			cfg.Events = cs
			a.cfg = &cfg
			held := outcome{Status: []schemas.OrderStatus{h.cfg.status(testRequest(order), StatusCartCreated, "cart-new", "", "")}}
			if err := a.BeginSubmitCart(ctx, "cart-new", held); err != nil {
				t.Fatal(err)
			}
			if len(cs.sends) != 0 {
				t.Fatalf("BeginSubmitCart produced %d times, want 0", len(cs.sends))
			}
			next := outcome{Status: []schemas.OrderStatus{h.cfg.status(testRequest(order), StatusFailed, "cart-new", "", "")}}
			if err := tc.next(a, next); err != nil {
				t.Fatal(err)
			}
			if len(cs.sends) != 1 {
				t.Fatalf("%d sends, want 1", len(cs.sends))
			}
			first := cs.sends[0][0].Value.(schemas.OrderStatus)
			if first.State != string(StatusCartCreated) || len(h.byState(StatusCartCreated)) != 1 {
				t.Fatalf("first record %q, cart_created produced %d times: want cart_created first, once", first.State, len(h.byState(StatusCartCreated)))
			}
			if tc.name == "Fail" {
				rec, err := h.cfg.Store.Get(ctx, order, 1)
				if err != nil {
					t.Fatal(err)
				}
				stored, err := decodeOutcome(rec.OutcomeData)
				if err != nil || len(stored.Status) != 2 || stored.Status[0].State != string(StatusCartCreated) {
					t.Fatalf("stored outcome %+v (%v): want cart_created, then the failure", stored, err)
				}
			}
		})
	}
	t.Run("failed produce keeps it", func(t *testing.T) {
		order := "order-held-retry"
		a := inState(t, h, order, reserved)
		held := outcome{Status: []schemas.OrderStatus{h.cfg.status(testRequest(order), StatusCartCreated, "cart-new", "", "")}}
		if err := a.BeginSubmitCart(ctx, "cart-new", held); err != nil {
			t.Fatal(err)
		}
		cfg := *h.cfg
		cfg.Events = failingSender{}
		a.cfg = &cfg
		tr := schemas.Tracking{OrderID: order, Attempt: 1, Provider: "rye", CartID: "cart-new"}
		if err := a.HandToTracker(ctx, tr, outcome{}); err == nil {
			t.Fatal("no error although producing failed")
		}
		a.cfg = h.cfg
		if err := a.HandToTracker(ctx, tr, outcome{}); err != nil {
			t.Fatal(err)
		}
		if n := len(h.byState(StatusCartCreated)); n != 1 {
			t.Fatalf("cart_created produced %d times, want 1", n)
		}
	})
}

// TestFinishChainRechecks: FinishChain acts on what the tracker read, but the store checks it
// again: a resubmit's live lease, or a newer chain named since the read, leaves the attempt
// as it is and produces nothing.
func TestFinishChainRechecks(t *testing.T) {
	h := newHarness(t, nil, nil)
	ctx := context.Background()
	order := "order-finish-recheck"
	if err := inState(t, h, order, submitted).Release(ctx, outcome{}); err != nil { // handed to the tracker
		t.Fatal(err)
	}
	read, err := h.cfg.Store.Get(ctx, order, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{Status: []schemas.OrderStatus{h.cfg.status(testRequest(order), StatusPlaced, "cart-1", "", "")}}
	fp := Fingerprint(testRequest(order))
	// Another process's resubmit holds the lease.
	other := *h.cfg
	other.Owner = "resubmitter"
	ra, err := other.acquire(ctx, order, 1, testRequest(order))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cfg.tracked(read).FinishChain(ctx, fp, StatusPlaced, o); !errors.Is(err, idempotency.ErrBusy) {
		t.Fatalf("finish under a resubmitter's lease: %v, want ErrBusy", err)
	}
	// The resubmit hands the attempt to a new chain.
	if err := ra.BeginSubmit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ra.HandToTracker(ctx, schemas.Tracking{OrderID: order, Attempt: 1, Provider: "rye", CartID: "cart-1"}, outcome{}); err != nil {
		t.Fatal(err)
	}
	h.statuses, h.tracking, h.queue = nil, nil, nil
	if err := h.cfg.tracked(read).FinishChain(ctx, fp, StatusPlaced, o); !errors.Is(err, idempotency.ErrState) {
		t.Fatalf("finish of the old chain: %v, want ErrState", err)
	}
	after, err := h.cfg.Store.Get(ctx, order, 1)
	if err != nil {
		t.Fatal(err)
	}
	if after.State != submitted || after.Chain != ra.rec.Fence || len(h.statuses) != 0 {
		t.Fatalf("state %q chain %d, %d statuses: want submitted under chain %d, nothing produced", after.State, after.Chain, len(h.statuses), ra.rec.Fence)
	}
}
