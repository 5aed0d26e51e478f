package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// Label is what replaying a dead letter would do, as Inspect finds it.
type Label string

const (
	// LabelAlreadyPlaced: some attempt placed every merchant order of the dead letter; replay is a no-op.
	LabelAlreadyPlaced Label = "already-placed"
	// LabelOutcomeUnknown: an attempt may still charge and the provider does not show it placed;
	// replay is refused unless forced.
	LabelOutcomeUnknown Label = "outcome-unknown"
	// LabelWillSubmit: a replay publishes a new attempt.
	LabelWillSubmit Label = "will-submit"
	// LabelCapReached: the order was replayed MaxReplays times already; refused unless forced.
	LabelCapReached Label = "cap-reached"
	// LabelNotReplayable: nothing to replay (no request), or what the replay needs is missing.
	LabelNotReplayable Label = "not-replayable"
	// LabelSuperseded: a newer dead letter of the same order and merchant exists; replay that one.
	LabelSuperseded Label = "superseded"
	// LabelAlreadyReplayed: this replay id already replayed this dead letter and that attempt
	// failed; its own dead letter is the one to replay.
	LabelAlreadyReplayed Label = "already-replayed"
	// LabelCheckoutConsumed: a Digital River checkout of the order (the dead letter's, or another
	// ended attempt's) became an order that is still in progress. Replaying could charge twice,
	// so it is refused even with --force: wait for the order to end, then run again.
	LabelCheckoutConsumed Label = "checkout-consumed"
)

// Sender produces records and returns once all are acknowledged; *producer.Producer is one.
type Sender interface {
	Send(ctx context.Context, msgs ...producer.Message) error
}

// CheckoutFixer is a provider whose refused cart can be changed and submitted again under the
// same id, for the actions its descriptor lists in CheckoutFixes (Digital River's client has
// these methods). An optional interface: a provider without it is never fixed in place.
type CheckoutFixer interface {
	UpdateCheckout(ctx context.Context, checkoutID string, patch provider.CheckoutPatch) error
	AttachSource(ctx context.Context, checkoutID, sourceID string) error
}

// Config configures a Tool.
type Config struct {
	// Store is the idempotency store the roles use (same Redis, same key prefix). Required.
	Store *idempotency.Store
	// Topology names the requests and replays topics.
	Topology topology.Topology
	// Providers are clients to probe carts whose outcome is unknown (Status) and to fix
	// refused carts in place (CheckoutFixer). Without one, such dead letters stay
	// outcome-unknown or are not replayable.
	Providers map[string]provider.Provider
	// Descriptors say what each provider allows beyond that: which dead-letter actions it fixes
	// on the refused cart (CheckoutFixes) and whether a refused cart may still become an order
	// (RefusedCartsMayPlace). A dead letter of a provider without one is replayed on a new cart,
	// without those look-ups. cmd/orderflow passes providers.All().
	Descriptors []provider.Descriptor
	// Sender publishes replayed requests and audit records; required by Replay only. It must
	// have the requests and replays topics' schemas registered (producer.New does).
	Sender Sender
	// MaxReplays is the replay cap of one order: a dead letter whose request was already
	// replayed this many times is refused unless forced. Default 3.
	MaxReplays int
	// Rate is how many dead letters per second Replay may publish. Default 5.
	Rate float64
	// Operator names who replays, in audit records.
	Operator string
	// Logger; nil discards. Payment references and personal data are never logged.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// setDefaults fills the fields not set with their defaults.
func (c *Config) setDefaults() {
	c.Topology = c.Topology.WithDefaults()
	if c.MaxReplays <= 0 {
		c.MaxReplays = 3
	}
	if c.Rate <= 0 {
		c.Rate = 5
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks c; it changes nothing.
func (c Config) Validate() error {
	if c.Store == nil {
		return errors.New("dlq: no idempotency store")
	}
	return c.Topology.Validate()
}

// Tool inspects and replays dead letters. It is safe for concurrent use, but Replay handles one
// dead letter at a time.
type Tool struct {
	cfg     Config
	limiter *rate.Limiter
}

// New fills cfg's defaults, validates it and returns a Tool.
func New(cfg Config) (*Tool, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Tool{cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.Rate), 1)}, nil
}

// Options are the choices of one inspection or replay run.
type Options struct {
	// ReplayID names the run; running the same id again can not create a second cart. Required
	// by Replay (see NewReplayID); Inspect uses it to recognise what the id already did.
	ReplayID string
	// Patch corrects the request before it is replayed.
	Patch Patch
	// DryRun labels and changes nothing: no checkout update, no attempt, no publish, no audit.
	DryRun bool
	// Force replays cap-reached and outcome-unknown dead letters. Outcome unknown means the
	// customer may be charged by the earlier attempt: force only after the provider confirmed
	// it will never place.
	Force bool
	// NewCart replays Digital River fix-checkout dead letters with a new checkout instead of
	// fixing the refused one.
	NewCart bool
	// Progress, if set, is called after each dead letter.
	Progress func(Result)
}

// Plan is what replaying one dead letter would do.
type Plan struct {
	DeadLetter schemas.DeadLetter
	Label      Label
	// Detail explains the label for a person.
	Detail string
	// Items are what a replay places: the failed items whose merchant no attempt placed since.
	Items []schemas.Item
	// ReuseCart is the cart a replay fixes and resubmits (Digital River fix-checkout); "" = a new cart.
	ReuseCart string
	// Attempt is the attempt this replay id already allocated for the dead letter (a replay run
	// again), 0 if none.
	Attempt int

	floor int // the highest attempt number of the order seen
}

// Inspect labels what replaying d would do. all are the dead letters read (for newer dead
// letters of the same order); it changes nothing, but may ask the provider for the status of
// a cart whose outcome the store does not know.
func (t *Tool) Inspect(ctx context.Context, all []Entry, d schemas.DeadLetter, opts Options) (Plan, error) {
	p := Plan{DeadLetter: d}
	if d.Request == nil || d.OrderID == "" {
		p.Label, p.Detail = LabelNotReplayable, "no decodable request: fix the record where it came from and send it again"
		return p, nil
	}
	items := d.FailedItems
	if len(items) == 0 {
		items = d.Request.Items
	}
	want := merchantsOf(items)
	st, err := t.orderState(ctx, all, d, opts.ReplayID, want)
	if err != nil {
		return p, err
	}
	p.floor = st.highest
	t.lookUpOwnCheckout(d, &st)
	t.probe(ctx, d, want, &st)

	var placedBy []string
	for _, m := range want {
		if n, ok := st.placed[m]; ok {
			placedBy = append(placedBy, fmt.Sprintf("%s by attempt %d", m, n))
		}
	}
	for _, it := range items {
		if _, ok := st.placed[it.Merchant]; !ok {
			p.Items = append(p.Items, it)
		}
	}
	if len(p.Items) == 0 {
		p.Label, p.Detail = LabelAlreadyPlaced, "placed: "+strings.Join(placedBy, ", ")
		return p, nil
	}
	if newer := supersededBy(all, d, merchantsOf(p.Items)); newer != nil {
		p.Label, p.Detail = LabelSuperseded, fmt.Sprintf("dead letter %s (attempt %d) is newer: replay that one", short(newer.DeadLetterID), newer.Attempt)
		return p, nil
	}
	if len(st.consumed) > 0 {
		p.Label, p.Detail = LabelCheckoutConsumed, strings.Join(st.consumed, "; ")+": wait until it ends, then run again"
		return p, nil
	}
	if st.own != 0 && st.ownView.Stage() == processor.StageEnded {
		p.Label, p.Detail = LabelAlreadyReplayed, fmt.Sprintf("replay %s already ran as attempt %d, which ended %s: replay its dead letter", opts.ReplayID, st.own, st.ownView.Outcome())
		return p, nil
	}
	if len(st.unknown) > 0 {
		p.Label, p.Detail = LabelOutcomeUnknown, strings.Join(st.unknown, "; ")
		return p, nil
	}
	if n := replays(d); n >= t.cfg.MaxReplays {
		p.Label, p.Detail = LabelCapReached, fmt.Sprintf("replayed %d times (cap %d): a loop? --force overrides", n, t.cfg.MaxReplays)
		return p, nil
	}
	p.Label, p.Attempt = LabelWillSubmit, st.own
	p.ReuseCart = t.reusableCart(d, opts)
	if p.ReuseCart != "" {
		if _, ok := t.cfg.Providers[d.Provider].(CheckoutFixer); !ok {
			p.Label, p.Detail = LabelNotReplayable, fmt.Sprintf("fixing checkout %s needs a %s client (or --new-cart)", p.ReuseCart, d.Provider)
			return p, nil
		}
	}
	switch {
	case st.own != 0:
		p.Detail = fmt.Sprintf("publish attempt %d again (replay %s was started, not picked up yet)", st.own, opts.ReplayID)
	case p.ReuseCart != "":
		p.Detail = fmt.Sprintf("update checkout %s and submit it as a new attempt", p.ReuseCart)
	case t.itemsOnNewCheckout(d, opts):
		p.Detail = "a new cart as a new attempt: the patch changes items, which a fix of the refused cart can not change"
	default:
		p.Detail = "a new cart as a new attempt"
	}
	if len(placedBy) > 0 {
		p.Detail += "; without merchant orders already placed (" + strings.Join(placedBy, ", ") + ")"
	}
	return p, nil
}

// replays is how many times the dead letter's order was replayed before it.
func replays(d schemas.DeadLetter) int {
	n := d.ReplayCount
	if d.Request != nil {
		n = max(n, d.Request.ReplayCount)
	}
	return n
}

// reusableCart is the cart a replay of d fixes in place, or "". Patched items always need a new
// checkout: Digital River only lets an update change a line item's subscription, ship from and
// metadata, anything else is 400 ("Describing line items", section "Updating items").
func (t *Tool) reusableCart(d schemas.DeadLetter, opts Options) string {
	if opts.NewCart || d.CartID == "" || opts.Patch.Has("items") {
		return ""
	}
	if desc, _ := provider.Find(t.cfg.Descriptors, d.Provider); desc.Fixes(d.Action, d.Phase, opts.Patch.Has) {
		return d.CartID
	}
	return ""
}

// itemsOnNewCheckout reports whether a replay of d that would fix its checkout goes to a new
// checkout because the patch changes items.
func (t *Tool) itemsOnNewCheckout(d schemas.DeadLetter, opts Options) bool {
	if d.CartID == "" || !opts.Patch.Has("items") || opts.NewCart {
		return false
	}
	desc, _ := provider.Find(t.cfg.Descriptors, d.Provider)
	return desc.Fixes(d.Action, d.Phase, func(string) bool { return true })
}

// refusedMayPlace reports whether a refused cart of provider name may still become an order.
func (t *Tool) refusedMayPlace(name string) bool {
	desc, _ := provider.Find(t.cfg.Descriptors, name)
	return desc.RefusedCartsMayPlace
}

// orderState is what the store knows about every attempt of an order.
type orderState struct {
	highest  int
	placed   map[string]int // merchant -> attempt that placed it
	unknown  []string       // attempts that may still charge, explained
	carts    []probeTarget  // of those, the ones with a cart to ask the provider about
	consumed []string       // Digital River checkouts of ended attempts that became orders still in progress
	own      int            // the attempt this replay id allocated for the dead letter
	ownView  processor.AttemptView
}

type probeTarget struct {
	attempt int
	cartID  string
	why     string
	// ended: the attempt ended without an order we know of (a refused Digital River checkout).
	// Only an order found for the cart matters: none is the expected answer.
	ended bool
}

// lookUpOwnCheckout makes sure the dead letter's own Digital River checkout is looked up: its
// attempt ended refused, but the refusal may have been a reused checkout's answer, or the
// checkout may have been consumed since. Nothing is decided before its orders are known.
func (t *Tool) lookUpOwnCheckout(d schemas.DeadLetter, st *orderState) {
	if !t.refusedMayPlace(d.Provider) || d.CartID == "" {
		return
	}
	if slices.ContainsFunc(st.carts, func(c probeTarget) bool { return c.cartID == d.CartID }) {
		return
	}
	st.carts = append(st.carts, probeTarget{d.Attempt, d.CartID, "was refused (dead letter)", true})
}

func (t *Tool) orderState(ctx context.Context, all []Entry, d schemas.DeadLetter, replayID string, want []string) (orderState, error) {
	st := orderState{placed: map[string]int{}}
	alloc, err := t.cfg.Store.Allocations(ctx, d.OrderID)
	if err != nil {
		return st, err
	}
	allocated := map[int]string{}
	for reason, n := range alloc.ByReason {
		allocated[n] = reason
	}
	if replayID != "" {
		st.own = alloc.ByReason[replayReason(replayID, d.DeadLetterID)]
	}
	deadLettered := map[int]bool{d.Attempt: true}
	st.highest = max(alloc.Highest, d.Attempt)
	for _, e := range all {
		if e.OrderID == d.OrderID {
			deadLettered[e.Attempt] = true
			st.highest = max(st.highest, e.Attempt)
		}
	}
	for n := 1; n <= st.highest; n++ {
		v, err := processor.ViewAttempt(ctx, t.cfg.Store, d.OrderID, n)
		if err != nil {
			return st, err
		}
		if n == st.own {
			st.ownView = v
		}
		switch v.Stage() {
		case processor.StageEnded:
			placed, err := v.PlacedMerchants()
			if err != nil {
				t.cfg.Logger.Warn("undecodable stored outcome", "order", d.OrderID, "attempt", n, "error", err)
			}
			for _, m := range placed {
				if _, ok := st.placed[m]; !ok {
					st.placed[m] = n
				}
			}
			switch {
			case v.Outcome() == processor.StatusNeedsAttention:
				st.carts = append(st.carts, probeTarget{n, v.CartID(), "ended needs_attention (submitted, never confirmed)", false})
			case v.ActionTimedOut():
				// The customer may complete the 3-D Secure challenge after our deadline.
				st.carts = append(st.carts, probeTarget{n, v.CartID(), "timed out waiting for the customer's payment challenge (may still be completed)", false})
			case t.refusedMayPlace(d.Provider) && v.CartID() != "" && v.Outcome() != processor.StatusPlaced:
				// A refused cart (a Digital River checkout) may have been consumed after all: look it up.
				st.carts = append(st.carts, probeTarget{n, v.CartID(), "ended " + string(v.Outcome()), true})
			}
		case processor.StageSubmitted:
			st.carts = append(st.carts, probeTarget{n, v.CartID(), "submitted, outcome not known yet", false})
		case processor.StageOpen:
			st.unknown = append(st.unknown, fmt.Sprintf("attempt %d is in progress (%s)", n, v.State()))
		case processor.StageNone:
			if reason, ok := allocated[n]; ok && !deadLettered[n] && n != st.own && !siblingReplay(all, reason, replayID, want) {
				st.unknown = append(st.unknown, fmt.Sprintf("attempt %d was allocated (%s) and not picked up yet", n, short(reason)))
			}
		}
	}
	return st, nil
}

// siblingReplay reports whether an allocation reason is this replay id's replay of another dead
// letter of the order whose merchants are none of want: a two-merchant cart whose merchant orders
// were dead-lettered separately replays both in one run without one blocking the other.
func siblingReplay(all []Entry, reason, replayID string, want []string) bool {
	dlID, ok := strings.CutPrefix(reason, "replay/"+replayID+"/")
	if replayID == "" || !ok {
		return false
	}
	i := slices.IndexFunc(all, func(e Entry) bool { return e.DeadLetterID == dlID })
	if i < 0 || all[i].Request == nil {
		return false
	}
	items := all[i].FailedItems
	if len(items) == 0 {
		items = all[i].Request.Items
	}
	return !slices.ContainsFunc(merchantsOf(items), func(m string) bool { return slices.Contains(want, m) })
}

// probe asks the provider about every cart whose outcome the store does not know: placed
// merchant orders count as placed, failed ones no longer as unknown. For an ended attempt's
// Digital River checkout only an order found counts: placed as placed, still in progress as
// consumed (LabelCheckoutConsumed); no order is what a refused checkout should show.
func (t *Tool) probe(ctx context.Context, d schemas.DeadLetter, want []string, st *orderState) {
	prov := t.cfg.Providers[d.Provider]
	for _, c := range st.carts {
		what := fmt.Sprintf("attempt %d (cart %s) %s", c.attempt, c.cartID, c.why)
		if prov == nil || c.cartID == "" {
			st.unknown = append(st.unknown, what+fmt.Sprintf(": no %s client to ask", d.Provider))
			continue
		}
		pl, err := prov.Status(ctx, c.cartID)
		if err != nil {
			st.unknown = append(st.unknown, what+": asking the provider failed: "+err.Error())
			continue
		}
		if c.ended {
			for _, o := range pl.Orders {
				switch o.Phase() {
				case provider.PhasePlaced:
					if _, ok := st.placed[o.Merchant]; !ok {
						st.placed[o.Merchant] = c.attempt
					}
				case provider.PhaseNotStarted, provider.PhaseFailed: // no order, or one that failed: nothing to wait for
				default:
					st.consumed = append(st.consumed, fmt.Sprintf("%s, but checkout %s became order %s (%s, %s)",
						fmt.Sprintf("attempt %d %s", c.attempt, c.why), c.cartID, o.OrderID, o.Status, o.Phase()))
				}
			}
			continue
		}
		open := 0
		var phases []string
		for _, o := range pl.Orders {
			phases = append(phases, o.Phase().String())
			switch o.Phase() {
			case provider.PhasePlaced:
				merchants := []string{o.Merchant}
				if len(pl.Orders) == 1 && c.attempt == d.Attempt {
					merchants = want // one order for the dead letter's own cart holds all its items
				}
				for _, m := range merchants {
					if _, ok := st.placed[m]; !ok {
						st.placed[m] = c.attempt
					}
				}
			case provider.PhaseFailed:
			default: // not started, started, in progress, or waiting for the customer (action required)
				open++
			}
		}
		if open > 0 || len(pl.Orders) == 0 {
			st.unknown = append(st.unknown, fmt.Sprintf("%s: the provider shows %s", what, strings.Join(phases, ", ")))
		}
	}
}

// supersededBy returns a newer dead letter of d's order sharing a merchant with merchants.
func supersededBy(all []Entry, d schemas.DeadLetter, merchants []string) *schemas.DeadLetter {
	var newer *schemas.DeadLetter
	for i := range all {
		e := &all[i].DeadLetter
		if e.OrderID != d.OrderID || e.Attempt <= d.Attempt || e.Request == nil {
			continue
		}
		items := e.FailedItems
		if len(items) == 0 {
			items = e.Request.Items
		}
		if slices.ContainsFunc(merchantsOf(items), func(m string) bool { return slices.Contains(merchants, m) }) {
			if newer == nil || e.Attempt > newer.Attempt {
				newer = e
			}
		}
	}
	return newer
}

func merchantsOf(items []schemas.Item) []string {
	var out []string
	for _, it := range items {
		if !slices.Contains(out, it.Merchant) {
			out = append(out, it.Merchant)
		}
	}
	return out
}

func replayReason(replayID, deadLetterID string) string {
	return "replay/" + replayID + "/" + deadLetterID
}

// short abbreviates a hex id for display.
func short(id string) string {
	if len(id) > 12 && !strings.Contains(id, "/") {
		return id[:12]
	}
	return id
}
