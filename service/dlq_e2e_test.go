package service_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/dlq"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	drclient "github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/schemas"
)

// dlqStack is the end-to-end stack (startStack: embedded or real services) used by the
// dead-letter tool's tests.
type dlqStack struct{ *stack }

func startDLQStack(t *testing.T) *dlqStack { return &dlqStack{startStack(t)} }

// tool returns a dlq.Tool on the stack; cfg.Providers and cfg.Sender default to the stack's.
func (s *dlqStack) tool(t *testing.T, cfg dlq.Config) *dlq.Tool {
	t.Helper()
	if cfg.Providers == nil {
		cfg.Providers = s.providers
	}
	if cfg.Sender == nil {
		cfg.Sender = s.svc.Producer()
	}
	if cfg.Descriptors == nil {
		cfg.Descriptors = providers.All()
	}
	cfg.Store, cfg.Topology, cfg.Operator = s.store, s.topo, "e2e"
	if cfg.Rate == 0 {
		cfg.Rate = 1000
	}
	tool, err := dlq.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tool
}

func (s *dlqStack) read(t *testing.T) []dlq.Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	entries, undecodable, err := dlq.Read(ctx, dlq.ReadConfig{Brokers: s.env.Brokers, Topic: s.topo.DLQ(), Codec: s.svc.Producer().Codec(), Opts: testenv.KafkaSecurity(t)})
	if err != nil {
		t.Fatalf("reading the dead-letter topic: %v", err)
	}
	if undecodable > 0 {
		t.Errorf("%d undecodable dead letters", undecodable)
	}
	return entries
}

// poll calls cond until it is true, failing after d with what() in the message.
func poll(t *testing.T, d time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what())
		}
		<-tick.C
	}
}

// waitDeadLetter waits for the dead letter of an order's attempt and returns it with every entry read.
func (s *dlqStack) waitDeadLetter(t *testing.T, orderID string, attempt int) (dlq.Entry, []dlq.Entry) {
	t.Helper()
	var got dlq.Entry
	var all []dlq.Entry
	what := func() string {
		return fmt.Sprintf("the dead letter of %s attempt %d (events %v)", orderID, attempt, s.tally.Events(orderID))
	}
	poll(t, 45*time.Second, what, func() bool {
		all = s.read(t)
		i := slices.IndexFunc(all, func(e dlq.Entry) bool { return e.OrderID == orderID && e.Attempt == attempt })
		if i >= 0 {
			got = all[i]
		}
		return i >= 0
	})
	return got, all
}

// waitEvent waits until the tally saw "attempt/merchant/state" for an order.
func (s *dlqStack) waitEvent(t *testing.T, orderID, event string) {
	t.Helper()
	what := func() string { return fmt.Sprintf("%s of %s (events %v)", event, orderID, s.tally.Events(orderID)) }
	poll(t, 45*time.Second, what, func() bool { return slices.Contains(s.tally.Events(orderID), event) })
}

// records reads a topic to its high watermarks.
func (s *dlqStack) records(t *testing.T, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := oracle.ReadTopic(ctx, s.env.Brokers, testenv.KafkaSecurity(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replayed returns the requests published to the requests topic by a replay id.
func (s *dlqStack) replayed(t *testing.T, replayID string) []schemas.OrderRequested {
	t.Helper()
	var out []schemas.OrderRequested
	for _, r := range s.records(t, s.topo.Requests()) {
		o, err := s.svc.Producer().Codec().DecodeOrderRequested(context.Background(), r.Value)
		if err != nil {
			t.Fatalf("decoding a request: %v", err)
		}
		if o.ReplayID == replayID {
			out = append(out, o)
		}
	}
	return out
}

// audits returns the audit records of a replay id.
func (s *dlqStack) audits(t *testing.T, replayID string) []schemas.ReplayAudit {
	t.Helper()
	var out []schemas.ReplayAudit
	for _, r := range s.records(t, s.topo.Replays()) {
		a, err := s.svc.Producer().Codec().DecodeReplayAudit(context.Background(), r.Value)
		if err != nil {
			t.Fatalf("decoding an audit record: %v", err)
		}
		if a.ReplayID == replayID {
			out = append(out, a)
		}
	}
	return out
}

// replayOne replays one dead letter and returns its result.
func replayOne(t *testing.T, tool *dlq.Tool, all []dlq.Entry, e dlq.Entry, opts dlq.Options) dlq.Result {
	t.Helper()
	res, err := tool.Replay(context.Background(), all, []dlq.Entry{e}, opts)
	if err != nil || len(res) != 1 {
		t.Fatalf("replay of %s: %v, %d results", e.DeadLetterID, err, len(res))
	}
	return res[0]
}

func mustPatch(t *testing.T, settings ...string) dlq.Patch {
	t.Helper()
	p, err := dlq.ParsePatch(settings)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ledgerOf returns the ledger entries of an order (by order ref "id/attempt") and of a cart id.
func ledgerOf(l *ledger.Ledger, orderID string) []ledger.Entry {
	var out []ledger.Entry
	for _, e := range l.Entries() {
		if strings.HasPrefix(e.OrderRef, orderID+"/") {
			out = append(out, e)
		}
	}
	return out
}

func TestDeadLetterReplayEndToEnd(t *testing.T) {
	s := startDLQStack(t)

	t.Run("payment failed, replayed with a new payment reference, is placed exactly once", func(t *testing.T) {
		t.Parallel()
		id := "dlq-pd-1"
		s.send(t, demo.PaymentDeclined.Build(id, 1))
		dl, all := s.waitDeadLetter(t, id, 1)
		poll(t, 10*time.Second, func() string { return "the dead-lettered outcome, got " + s.tally.Outcome(id) }, func() bool { return s.tally.Outcome(id) == demo.PaymentDeclined.Want })

		// The dead letter says what failed and how, with every attempt.
		if dl.Action != string(provider.ActionNewPaymentMethod) || dl.Code != "PAYMENT_FAILED" || dl.Rule == "" ||
			dl.Retryable == nil || *dl.Retryable || dl.Phase != processor.PhaseSubmission || dl.SourceTopic != s.topo.Failures() ||
			dl.Request == nil || dl.Request.PaymentRef != "tok_declined" || dl.CartID == "" {
			t.Fatalf("dead letter %+v", dl.DeadLetter)
		}
		if len(dl.Attempts) == 0 || dl.Attempts[len(dl.Attempts)-1].Code != "PAYMENT_FAILED" {
			t.Fatalf("attempts %+v, want the PAYMENT_FAILED submission", dl.Attempts)
		}

		// list finds it by action and order; neither the table nor JSON shows the token or the buyer.
		sel, err := dlq.Select(all, dlq.Filter{Actions: []string{"new-payment-method"}, OrderIDs: []string{id}, Retryable: "false", Providers: []string{"rye"}})
		if err != nil || len(sel) != 1 || sel[0].DeadLetterID != dl.DeadLetterID {
			t.Fatalf("list by action found %d (%v)", len(sel), err)
		}
		if sel, _ := dlq.Select(all, dlq.Filter{OrderIDs: []string{id}, Since: time.Now().Add(time.Minute)}); len(sel) != 0 {
			t.Fatalf("a future --since selected %d", len(sel))
		}
		var table, js bytes.Buffer
		if err := dlq.WriteTable(&table, sel); err != nil {
			t.Fatal(err)
		}
		if err := dlq.WriteJSON(&js, sel); err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string]string{"table": table.String(), "json": js.String()} {
			if !strings.Contains(out, id) || !strings.Contains(out, "new-payment-method") {
				t.Errorf("%s output lacks the order or its action:\n%s", name, out)
			}
			for _, secret := range []string{"tok_declined", "Lovelace", "ada@example.com", "1 Market St", "+14155550100"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s output shows %q:\n%s", name, secret, out)
				}
			}
		}
		if !strings.Contains(js.String(), `"tok_…"`) {
			t.Errorf("json output lacks the redacted token:\n%s", js.String())
		}

		tool := s.tool(t, dlq.Config{})
		rid := "r-pd-1"
		dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: rid, DryRun: true, Patch: mustPatch(t, "payment_ref=tok_visa")})
		if dry.Label != dlq.LabelWillSubmit || dry.Result != dlq.ResultDryRun {
			t.Fatalf("dry run: %s %s (%s), want will-submit", dry.Label, dry.Result, dry.Detail)
		}

		opts := dlq.Options{ReplayID: rid, Patch: mustPatch(t, "payment_ref=tok_visa")}
		first := replayOne(t, tool, all, dl, opts)
		// The same replay id again at once, before the worker has placed it: the same attempt or nothing.
		again := replayOne(t, tool, all, dl, opts)
		if first.Result != dlq.ResultSubmitted || first.Published != 2 {
			t.Fatalf("replay: %+v, want attempt 2 submitted", first)
		}
		if again.Result == dlq.ResultSubmitted && again.Published != first.Published {
			t.Fatalf("the same replay id published attempt %d, then %d", first.Published, again.Published)
		}
		s.waitEvent(t, id, "2/amazon/placed")

		// Re-running the replay id after it placed, and a new replay id: no-ops that send nothing.
		third := replayOne(t, tool, all, dl, opts)
		other := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-pd-2", Patch: mustPatch(t, "payment_ref=tok_visa")})
		for _, r := range []dlq.Result{third, other} {
			if r.Label != dlq.LabelAlreadyPlaced || r.Result != dlq.ResultNoop {
				t.Errorf("replay after placement: %s %s (%s), want already-placed noop", r.Label, r.Result, r.Detail)
			}
		}
		if got := s.replayed(t, "r-pd-2"); len(got) != 0 {
			t.Errorf("an already placed order was replayed: %+v", got)
		}
		for _, r := range s.replayed(t, rid) {
			if r.Attempt != 2 || r.ReplayCount != 1 || r.PaymentRef != "tok_visa" || r.Attributes[dlq.ReplayOfAttribute] != dl.DeadLetterID {
				t.Errorf("replayed request %+v", r)
			}
		}

		entries := ledgerOf(s.env.Sandbox.Ledger(), id)
		if len(entries) != 1 || entries[0].OrderRef != id+"/2" || !entries[0].Charged || entries[0].Refunded {
			t.Fatalf("ledger %+v, want one charged cart for attempt 2 and nothing for the declined attempt 1", entries)
		}
		if ev := s.tally.Events(id); slices.Contains(ev, "1/amazon/placed") || slices.Contains(ev, "3/amazon/placed") {
			t.Errorf("events %v: only attempt 2 may be placed", ev)
		}
		audits := s.audits(t, rid)
		if !slices.ContainsFunc(audits, func(a schemas.ReplayAudit) bool {
			return a.Result == dlq.ResultSubmitted && a.Attempt == 2 && a.DeadLetterID == dl.DeadLetterID &&
				slices.Equal(a.PatchedFields, []string{"payment_ref"}) && a.Operator == "e2e" && a.ReplayCount == 1
		}) {
			t.Errorf("no audit record of the submitted replay: %+v", audits)
		}
		if a := s.audits(t, "r-pd-2"); len(a) != 1 || a[0].Label != string(dlq.LabelAlreadyPlaced) || a[0].Result != dlq.ResultNoop || a[0].Attempt != 0 {
			t.Errorf("audit of the no-op replay: %+v", a)
		}
	})

	t.Run("the replay cap stops loops", func(t *testing.T) {
		t.Parallel()
		id := "dlq-cap-1"
		s.send(t, demo.PaymentDeclined.Build(id, 2))
		tool := s.tool(t, dlq.Config{MaxReplays: 3})
		dl, all := s.waitDeadLetter(t, id, 1)
		first := dl
		for i := 1; i <= 3; i++ {
			r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: fmt.Sprintf("r-cap-%d", i), Patch: mustPatch(t, "payment_ref=tok_declined")})
			if r.Result != dlq.ResultSubmitted {
				t.Fatalf("replay %d: %s %s (%s)", i, r.Label, r.Result, r.Detail)
			}
			dl, all = s.waitDeadLetter(t, id, r.Published)
			if dl.ReplayCount != i || dl.ReplayID != fmt.Sprintf("r-cap-%d", i) {
				t.Fatalf("dead letter of replay %d: replay count %d id %q", i, dl.ReplayCount, dl.ReplayID)
			}
		}
		dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-cap-4", DryRun: true})
		refused := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-cap-4", Patch: mustPatch(t, "payment_ref=tok_visa")})
		for _, r := range []dlq.Result{dry, refused} {
			if r.Label != dlq.LabelCapReached {
				t.Fatalf("after 3 replays: %s (%s), want cap-reached", r.Label, r.Detail)
			}
		}
		if refused.Result != dlq.ResultRefused || len(s.replayed(t, "r-cap-4")) != 0 {
			t.Fatalf("the cap did not hold: %+v", refused)
		}
		if a := s.audits(t, "r-cap-4"); len(a) != 1 || a[0].Result != dlq.ResultRefused || a[0].Label != string(dlq.LabelCapReached) {
			t.Fatalf("audit of the refused replay: %+v", a)
		}
		// The first dead letter is superseded by the newest one.
		if r := replayOne(t, tool, all, first, dlq.Options{ReplayID: "r-cap-5", DryRun: true}); r.Label != dlq.LabelSuperseded {
			t.Fatalf("the oldest dead letter: %s (%s), want superseded", r.Label, r.Detail)
		}
		// --force goes past the cap.
		forced := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-cap-6", Force: true, Patch: mustPatch(t, "payment_ref=tok_visa")})
		if forced.Result != dlq.ResultSubmitted || !forced.Forced {
			t.Fatalf("forced replay: %+v", forced)
		}
		s.waitEvent(t, id, fmt.Sprintf("%d/amazon/placed", forced.Published))
		if e := ledgerOf(s.env.Sandbox.Ledger(), id); len(e) != 1 || e[0].OrderRef != fmt.Sprintf("%s/%d", id, forced.Published) {
			t.Fatalf("ledger %+v, want one cart, of the forced attempt", e)
		}
	})

	t.Run("a stuck cart is outcome unknown and is not replayed", func(t *testing.T) {
		t.Parallel()
		id := "dlq-stuck-1"
		s.send(t, demo.Stuck.Build(id, 3))
		dl, all := s.waitDeadLetter(t, id, 1)
		if dl.Action != string(provider.ActionContactProvider) || dl.CartID == "" {
			t.Fatalf("dead letter %+v", dl.DeadLetter)
		}
		tool := s.tool(t, dlq.Config{})
		dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-stuck-1", DryRun: true})
		if dry.Label != dlq.LabelOutcomeUnknown || !strings.Contains(dry.Detail, "started") {
			t.Fatalf("dry run: %s (%s), want outcome-unknown after asking the provider", dry.Label, dry.Detail)
		}
		r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-stuck-1"})
		if r.Result != dlq.ResultRefused || len(s.replayed(t, "r-stuck-1")) != 0 {
			t.Fatalf("replay of a stuck cart: %+v", r)
		}
		if e := ledgerOf(s.env.Sandbox.Ledger(), id); len(e) != 1 || e[0].OrderRef != id+"/1" {
			t.Fatalf("ledger %+v, want only the stuck cart", e)
		}
	})

	t.Run("digital river 409 replays as a new checkout", func(t *testing.T) {
		t.Parallel()
		id := "dlq-dr409-1"
		s.send(t, demo.DRDeclined.Build(id, 4))
		dl, all := s.waitDeadLetter(t, id, 1)
		if dl.Action != string(provider.ActionNewCheckout) || dl.CartID == "" {
			t.Fatalf("dead letter %+v", dl.DeadLetter)
		}
		tool := s.tool(t, dlq.Config{})
		patch := mustPatch(t, "payment_ref=src_visa")
		dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-dr409", DryRun: true, Patch: patch})
		if dry.Label != dlq.LabelWillSubmit || dry.ReuseCart != "" {
			t.Fatalf("dry run: %s reuse %q (%s), want will-submit with a new checkout", dry.Label, dry.ReuseCart, dry.Detail)
		}
		r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-dr409", Patch: patch})
		if r.Result != dlq.ResultSubmitted {
			t.Fatalf("replay: %+v", r)
		}
		s.waitEvent(t, id, fmt.Sprintf("%d/digitalriver/placed", r.Published))
		e := ledgerOf(s.env.Sandbox.Ledger(), id)
		if len(e) != 1 || e[0].OrderRef != fmt.Sprintf("%s/%d", id, r.Published) || e[0].CartID == dl.CartID {
			t.Fatalf("ledger %+v, want one new checkout (not %s) for attempt %d", e, dl.CartID, r.Published)
		}
	})

	t.Run("digital river fix-checkout updates and submits the same checkout", func(t *testing.T) {
		t.Parallel()
		id := "dlq-drtax-1"
		s.send(t, demo.DRBadTax.Build(id, 5))
		dl, all := s.waitDeadLetter(t, id, 1)
		if dl.Action != string(provider.ActionFixCheckout) || dl.CartID == "" {
			t.Fatalf("dead letter %+v", dl.DeadLetter)
		}
		var show bytes.Buffer
		if err := dlq.WriteShow(&show, dl, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(show.String(), "1 Market St") || strings.Contains(show.String(), "src_visa") || strings.Contains(show.String(), "ada@example.com") {
			t.Fatalf("show must print the address but not the payment source or e-mail:\n%s", show.String())
		}
		tool := s.tool(t, dlq.Config{})
		patch := mustPatch(t, "address1=2 Market St", "postal=94105")
		dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-drtax", DryRun: true, Patch: patch})
		if dry.Label != dlq.LabelWillSubmit || dry.ReuseCart != dl.CartID {
			t.Fatalf("dry run: %s reuse %q (%s), want will-submit fixing %s", dry.Label, dry.ReuseCart, dry.Detail, dl.CartID)
		}
		r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-drtax", Patch: patch})
		if r.Result != dlq.ResultSubmitted {
			t.Fatalf("replay: %+v", r)
		}
		s.waitEvent(t, id, fmt.Sprintf("%d/digitalriver/placed", r.Published))
		var mine []ledger.Entry
		for _, e := range s.env.Sandbox.Ledger().Entries() {
			if e.CartID == dl.CartID || strings.HasPrefix(e.OrderRef, id+"/") {
				mine = append(mine, e)
			}
		}
		if len(mine) != 1 || mine[0].CartID != dl.CartID || !mine[0].Charged {
			t.Fatalf("ledger %+v, want the dead letter's checkout %s consumed once", mine, dl.CartID)
		}
		reqs := s.replayed(t, "r-drtax")
		if len(reqs) != 1 || reqs[0].Attributes[processor.ReuseCartAttribute] != dl.CartID || reqs[0].Buyer.Address1 != "2 Market St" {
			t.Fatalf("replayed requests %+v", reqs)
		}
		if a := s.audits(t, "r-drtax"); len(a) != 1 || a[0].CartID != dl.CartID || a[0].Result != dlq.ResultSubmitted {
			t.Fatalf("audit %+v", a)
		}
	})

	// A Digital River checkout that was consumed after all (a late duplicate, another actor, or a
	// reused-checkout answer an older client mislabelled) is never replayed into a second charge,
	// whichever status Digital River gives its reuse: the tool and the client look the checkout's
	// orders up before deciding anything. The sandbox answers each reuse with the status of the
	// checkout's "reused-<status>:" trigger.
	for _, status := range []int{404, 409, 400} {
		t.Run(fmt.Sprintf("digital river: a consumed checkout is never charged twice (reuse answered %d)", status), func(t *testing.T) {
			t.Parallel()
			dr := s.drClient(t)
			reusedOrder := func(id string, n int) schemas.OrderRequested {
				o := demo.DRBadTax.Build(id, n)
				o.Items = append(o.Items, schemas.Item{Merchant: drclient.Name, ProductID: fmt.Sprintf("reused-%d:SKU-RU-%06d", status, n), Quantity: 1, PriceCents: 999})
				return o
			}

			// After the fact: the dead letter's checkout became an order before anyone replays it.
			id := fmt.Sprintf("dlq-drreuse-%d", status)
			s.send(t, reusedOrder(id, 10+status))
			dl, all := s.waitDeadLetter(t, id, 1)
			if dl.Action != string(provider.ActionFixCheckout) || dl.CartID == "" {
				t.Fatalf("dead letter %+v", dl.DeadLetter)
			}
			order := consumeCheckout(t, dr, dl.CartID)
			tool := s.tool(t, dlq.Config{})
			patch := mustPatch(t, "address1=2 Market St")
			dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-drreuse-dry", DryRun: true, Patch: patch})
			if dry.Label != dlq.LabelCheckoutConsumed && dry.Label != dlq.LabelAlreadyPlaced {
				t.Fatalf("dry run after the checkout became order %s: %s (%s)", order, dry.Label, dry.Detail)
			}
			waitCheckoutPlaced(t, dr, dl.CartID)
			for _, force := range []bool{false, true} {
				rid := fmt.Sprintf("r-drreuse-%d-%v", status, force)
				r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: rid, Patch: patch, Force: force})
				if r.Label != dlq.LabelAlreadyPlaced || r.Result != dlq.ResultNoop || len(s.replayed(t, rid)) != 0 {
					t.Fatalf("replay (force %v) of a dead letter whose checkout placed: %s %s (%s)", force, r.Label, r.Result, r.Detail)
				}
			}
			wantOneCharge(t, s, id, dl.CartID)

			// During the replay: the checkout is consumed between the plan and the fix, so the
			// update itself gets the reused-checkout answer.
			id = fmt.Sprintf("dlq-drrace-%d", status)
			s.send(t, reusedOrder(id, 20+status))
			dl, all = s.waitDeadLetter(t, id, 1)
			providers := map[string]provider.Provider{}
			for k, v := range s.providers {
				providers[k] = v
			}
			providers[drclient.Name] = &racingFixer{Client: dr, before: func(checkoutID string) { consumeCheckout(t, dr, checkoutID) }}
			racing := s.tool(t, dlq.Config{Providers: providers})
			rid := fmt.Sprintf("r-drrace-%d", status)
			r := replayOne(t, racing, all, dl, dlq.Options{ReplayID: rid, Patch: patch})
			if r.Label != dlq.LabelWillSubmit || r.Result != dlq.ResultRefused || !strings.Contains(r.Reason, "consumed meanwhile") ||
				!strings.Contains(r.Reason, fmt.Sprintf("HTTP %d", status)) || len(s.replayed(t, rid)) != 0 {
				t.Fatalf("replay racing the consumption: %s %s (%s)", r.Label, r.Result, r.Reason)
			}
			wantOneCharge(t, s, id, dl.CartID)
		})
	}

	t.Run("digital river: a checkout consumed before the replayed attempt submits it is polled, not resubmitted", func(t *testing.T) {
		t.Parallel()
		dr := s.drClient(t)
		id := "dlq-drworker-1"
		s.send(t, demo.DRBadTax.Build(id, 31))
		dl, all := s.waitDeadLetter(t, id, 1)
		sender := &hookSender{Sender: s.svc.Producer(), before: func(msgs []producer.Message) {
			for _, m := range msgs {
				if _, ok := m.Value.(schemas.OrderRequested); ok {
					consumeCheckout(t, dr, dl.CartID)
				}
			}
		}}
		tool := s.tool(t, dlq.Config{Sender: sender})
		r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-drworker", Patch: mustPatch(t, "address1=2 Market St")})
		if r.Result != dlq.ResultSubmitted || r.ReuseCart != dl.CartID {
			t.Fatalf("replay: %+v", r)
		}
		// The worker finds the checkout consumed, looks its orders up, and tracks that order.
		s.waitEvent(t, id, fmt.Sprintf("%d/digitalriver/placed", r.Published))
		if ev := s.tally.Events(id); !slices.Contains(ev, fmt.Sprintf("%d//outcome_unknown", r.Published)) {
			t.Errorf("events %v: the replayed attempt should have found its checkout already submitted", ev)
		}
		wantOneCharge(t, s, id, dl.CartID)
	})

	t.Run("digital river: a new-checkout dead letter whose checkout was consumed is not replayed", func(t *testing.T) {
		t.Parallel()
		dr := s.drClient(t)
		id := "dlq-dr409-consumed"
		s.send(t, demo.DRDeclined.Build(id, 32))
		dl, all := s.waitDeadLetter(t, id, 1)
		// What an older client produced for a reused checkout answered 409: a new-checkout dead
		// letter naming a checkout that did become an order.
		o := demo.DRPlaced.Build(id, 32)
		cart, err := dr.CreateCart(context.Background(), provider.CartRequest{OrderRef: id + "/1", Currency: o.Currency, PaymentRef: "src_visa",
			Buyer: provider.Buyer{CountryCode: "US"}, Items: []provider.Item{{Merchant: drclient.Name, ProductID: "SKU-DRC-1", Quantity: 1, PriceCents: 4999}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dr.Submit(context.Background(), provider.SubmitRequest{CartID: cart.ID}); err != nil {
			t.Fatal(err)
		}
		dl.CartID = cart.ID
		tool := s.tool(t, dlq.Config{})
		patch := mustPatch(t, "payment_ref=src_visa")
		for i, force := range []bool{false, true} {
			rid := fmt.Sprintf("r-dr409-consumed-%d", i)
			r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: rid, Patch: patch, Force: force})
			if (r.Label != dlq.LabelCheckoutConsumed && r.Label != dlq.LabelAlreadyPlaced) || r.Result == dlq.ResultSubmitted || len(s.replayed(t, rid)) != 0 {
				t.Fatalf("replay (force %v): %s %s (%s)", force, r.Label, r.Result, r.Detail)
			}
		}
		wantOneCharge(t, s, id, cart.ID)
	})

	t.Run("digital river: a patch of items replays with a new checkout", func(t *testing.T) {
		t.Parallel()
		id := "dlq-dritems-1"
		s.send(t, demo.DRBadTax.Build(id, 33))
		dl, all := s.waitDeadLetter(t, id, 1)
		tool := s.tool(t, dlq.Config{})
		patch := mustPatch(t, "item.0.product_id="+after(dl.Request.Items[0].ProductID))
		r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-dritems", Patch: patch})
		if r.Result != dlq.ResultSubmitted || r.ReuseCart != "" || !strings.Contains(r.Detail, "can not change") {
			t.Fatalf("replay: %s %s reuse %q (%s)", r.Label, r.Result, r.ReuseCart, r.Detail)
		}
		s.waitEvent(t, id, fmt.Sprintf("%d/digitalriver/placed", r.Published))
		e := ledgerOf(s.env.Sandbox.Ledger(), id)
		if len(e) != 1 || e[0].CartID == dl.CartID || e[0].OrderRef != fmt.Sprintf("%s/%d", id, r.Published) {
			t.Fatalf("ledger %+v, want one new checkout (not %s)", e, dl.CartID)
		}
	})

	// Every other Rye action: fix, replay, placed once.
	for _, tc := range []struct {
		name, action string
		order        func(id string) schemas.OrderRequested
		patch        func(o schemas.OrderRequested) []string
	}{
		{"new-address", "new-address", func(id string) schemas.OrderRequested { return demo.Undeliverable.Build(id, 6) },
			func(schemas.OrderRequested) []string { return []string{"postal_code=94105"} }},
		{"investigate", "investigate", func(id string) schemas.OrderRequested { return demo.RetryabilityUnknown.Build(id, 7) },
			func(o schemas.OrderRequested) []string {
				return []string{"item.0.product_id=" + after(o.Items[0].ProductID)}
			}},
		{"attempts-exhausted", "attempts-exhausted", func(id string) schemas.OrderRequested { return demo.AlwaysUnavailable.Build(id, 8) },
			func(o schemas.OrderRequested) []string {
				return []string{"item.0.product_id=" + after(o.Items[0].ProductID)}
			}},
		{"fix-input", "fix-input", func(id string) schemas.OrderRequested {
			o := demo.Placed.Build(id, 9)
			o.Buyer.CountryCode = ""
			return o
		}, func(schemas.OrderRequested) []string { return []string{"country=US"} }},
	} {
		t.Run("action "+tc.name, func(t *testing.T) {
			t.Parallel()
			id := "dlq-act-" + tc.name
			o := tc.order(id)
			s.send(t, o)
			dl, all := s.waitDeadLetter(t, id, 1)
			if dl.Action != tc.action {
				t.Fatalf("action %q, want %q (%s)", dl.Action, tc.action, dl.Reason)
			}
			tool := s.tool(t, dlq.Config{})
			patch := mustPatch(t, tc.patch(o)...)
			if dry := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-" + id, DryRun: true, Patch: patch}); dry.Label != dlq.LabelWillSubmit {
				t.Fatalf("dry run: %s (%s)", dry.Label, dry.Detail)
			}
			r := replayOne(t, tool, all, dl, dlq.Options{ReplayID: "r-" + id, Patch: patch})
			if r.Result != dlq.ResultSubmitted {
				t.Fatalf("replay: %+v", r)
			}
			s.waitEvent(t, id, fmt.Sprintf("%d/amazon/placed", r.Published))
			var charged []ledger.Entry
			for _, e := range ledgerOf(s.env.Sandbox.Ledger(), id) {
				if e.Charged && !e.Refunded {
					charged = append(charged, e)
				}
			}
			if len(charged) != 1 || charged[0].OrderRef != fmt.Sprintf("%s/%d", id, r.Published) {
				t.Fatalf("ledger %+v, want one charge, for attempt %d", ledgerOf(s.env.Sandbox.Ledger(), id), r.Published)
			}
		})
	}

	t.Cleanup(func() {
		if d := s.env.Sandbox.Ledger().DoubleSubmits(); len(d) > 0 {
			t.Errorf("order attempts submitted twice: %v", d)
		}
	})
}

// drClient is the stack's Digital River client.
func (s *dlqStack) drClient(t *testing.T) *drclient.Client {
	t.Helper()
	c, ok := s.providers[drclient.Name].(*drclient.Client)
	if !ok {
		t.Fatalf("the stack's %s provider is a %T", drclient.Name, s.providers[drclient.Name])
	}
	return c
}

// consumeCheckout turns a refused bad-tax checkout into an order outside orderflow: shipTo is
// fixed, then POST /orders. It returns the order id.
func consumeCheckout(t *testing.T, c *drclient.Client, checkoutID string) string {
	t.Helper()
	ctx := context.Background()
	fixed := provider.Buyer{FirstName: "Ada", LastName: "Lovelace", Address1: "3 Market St", City: "San Francisco",
		ProvinceCode: "CA", PostalCode: "94105", CountryCode: "US"}
	if err := c.UpdateCheckout(ctx, checkoutID, drclient.CheckoutPatch{ShipTo: &fixed}); err != nil {
		t.Errorf("fixing checkout %s out of band: %v", checkoutID, err)
		return ""
	}
	sub, err := c.Submit(ctx, provider.SubmitRequest{CartID: checkoutID})
	if err != nil {
		t.Errorf("consuming checkout %s out of band: %v", checkoutID, err)
		return ""
	}
	return sub.Orders[0].OrderID
}

// waitCheckoutPlaced polls the provider until the checkout's order is placed.
func waitCheckoutPlaced(t *testing.T, c *drclient.Client, checkoutID string) {
	t.Helper()
	var last provider.Placement
	poll(t, 10*time.Second, func() string { return fmt.Sprintf("checkout %s placed (%+v)", checkoutID, last) }, func() bool {
		pl, err := c.Status(context.Background(), checkoutID)
		last = pl
		return err == nil && len(pl.Orders) == 1 && pl.Orders[0].Phase() == provider.PhasePlaced
	})
}

// wantOneCharge checks that the order was charged exactly once, by checkout cartID.
func wantOneCharge(t *testing.T, s *dlqStack, orderID, cartID string) {
	t.Helper()
	var mine []ledger.Entry
	for _, e := range s.env.Sandbox.Ledger().Entries() {
		if e.CartID == cartID || strings.HasPrefix(e.OrderRef, orderID+"/") {
			mine = append(mine, e)
		}
	}
	if len(mine) != 1 || mine[0].CartID != cartID || !mine[0].Charged {
		t.Fatalf("ledger %+v, want checkout %s charged once and nothing else for %s", mine, cartID, orderID)
	}
}

// racingFixer is the Digital River client whose checkout updates run before first: the checkout
// is consumed between the replay's plan and its fix.
type racingFixer struct {
	*drclient.Client
	before func(checkoutID string)
}

func (r *racingFixer) UpdateCheckout(ctx context.Context, checkoutID string, patch drclient.CheckoutPatch) error {
	r.before(checkoutID)
	return r.Client.UpdateCheckout(ctx, checkoutID, patch)
}

// hookSender runs before ahead of every Send.
type hookSender struct {
	dlq.Sender
	before func([]producer.Message)
}

func (h *hookSender) Send(ctx context.Context, msgs ...producer.Message) error {
	h.before(msgs)
	return h.Sender.Send(ctx, msgs...)
}

// after strips a sandbox scenario prefix ("unknown-error:B0UE1" -> "B0UE1").
func after(productID string) string {
	_, rest, ok := strings.Cut(productID, ":")
	if !ok {
		return productID
	}
	return rest
}
