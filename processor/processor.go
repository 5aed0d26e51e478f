// Package processor holds orderflow's three roles, each a consumer.Handler:
//
//   - Worker (orders.requests and the retry tiers): reserves the order attempt in the
//     idempotency store, creates the cart, records its id, submits it, and hands it to the
//     tracker, or reports a classified failure.
//   - Tracker (orders.tracking): polls placement per merchant order and decides placed,
//     failed, never started (resubmit the same cart) or stuck (needs attention).
//   - Reconciler (orders.failures): applies the failure policy: retry through a delay tier,
//     replace with a new cart, or dead-letter with the action a person must take.
//
// One rule keeps every role crash-safe: record the outcome with the state change in the store,
// then emit the events; a redelivery that finds the state already moved re-emits the stored
// outcome. Events carry deterministic ids, so downstream dedupes the re-emissions. The roles
// move an attempt only through its named operations (attempt.go), which hold these rules; the
// dead-letter tool reads one through AttemptView.
package processor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/backoff"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// Sender produces records and returns once all are acknowledged; *producer.Producer is one.
type Sender interface {
	Send(ctx context.Context, msgs ...producer.Message) error
}

// Status is a word put in status events (schemas.OrderStatus.State): what downstream learns
// of an order. It is not where the attempt stands in the store (idempotency.State): an
// attempt in state submitted may have announced submitted, outcome_unknown, placement_started,
// action_required or resubmitted. The terminal words (placed, failed, needs_attention,
// dead_lettered) are also the outcome an ended attempt stores (idempotency.Record.Outcome).
type Status string

// Status words.
const (
	StatusCartCreated      Status = "cart_created"
	StatusSubmitted        Status = "submitted"
	StatusOutcomeUnknown   Status = "outcome_unknown"
	StatusPlacementStarted Status = "placement_started"
	StatusActionRequired   Status = "action_required"
	StatusResubmitted      Status = "resubmitted"
	StatusPlaced           Status = "placed"
	StatusFailed           Status = "failed"
	StatusRetryScheduled   Status = "retry_scheduled"
	StatusReplaced         Status = "replaced"
	StatusDeadLettered     Status = "dead_lettered"
	StatusNeedsAttention   Status = "needs_attention"
)

// Phases of a failure.
const (
	PhaseCart       = "cart"
	PhaseSubmission = "submission"
	PhasePlacement  = "placement"
)

// ClassStuck is the failure class of a merchant order stuck after its submission started.
const ClassStuck = "stuck"

// ClassActionTimeout is the failure class of a merchant order whose customer did not complete
// a required action (a 3-D Secure challenge) within ActionTimeout. The customer may still
// complete it later: it is dead-lettered, never replaced, and the replay tool asks the
// provider before placing it again.
const ClassActionTimeout = "action-timeout"

// Settings tune the three roles. Zero fields take the defaults documented on each.
type Settings struct {
	// Owner names this process in leases. Default: a random id.
	Owner string
	// SubmitRetries is how many times a retryable submit or cart error is retried in process
	// before the failure goes to the reconciler. Default 3.
	SubmitRetries int
	// RetryBase and RetryMax shape the in-process backoff (jittered, capped). Defaults 200ms, 5s.
	RetryBase, RetryMax time.Duration
	// FirstPoll is when the tracker first polls a submitted cart: when its placement is likely
	// (the Rye sandbox places an order three placement steps after submitCart). The waits after
	// double from FirstPoll up to PollInterval; each (the first included) is jittered by ±20% so
	// that carts submitted together are not polled together. Default 1s (at most PollInterval).
	FirstPoll time.Duration
	// PollInterval is the tracker's longest wait between two polls of a cart. Default 2s.
	PollInterval time.Duration
	// NeverStartedAfter: no placement events this long after submission means the cart never
	// reached placement; it is resubmitted. Default 5m (the Rye seed).
	NeverStartedAfter time.Duration
	// StuckAfter: only provider.EventSubmissionStarted this long after submission means stuck; it
	// needs a person and is never replaced. Default 10m (the Rye seed).
	StuckAfter time.Duration
	// ActionTimeout is how long a merchant order may wait for the customer to complete a
	// required action (a 3-D Secure challenge), from when the tracker first sees it waiting.
	// While it waits, the never-started and stuck clocks do not run for it. Default 1h.
	ActionTimeout time.Duration
	// MaxResubmits bounds the resubmits of a cart that never started (no placement events
	// NeverStartedAfter after its submit) whose outcome is unknown: the provider accepted them,
	// answered that it already has the cart, or gave no usable answer (5xx, timeout, a lost
	// answer). A cart still not started after that many needs a person (needs_attention,
	// contact-provider): the provider holds it, or may, and does not place it. A resubmit the
	// provider refused with certainty (retryable, rate limited) does not count: nothing
	// happened, and the tracker resubmits again after a backoff (from PollInterval, doubling,
	// up to NeverStartedAfter) until the order's deadline (Policy.Deadline); 429s never count,
	// retryable refusals count against Policy.MaxRetries and then take the retry path like a
	// refused submit (the reconciler: a delay tier, or a dead letter, attempts-exhausted or
	// deadline-passed). `orderflow run --max-resubmits`. Default 2.
	MaxResubmits int
	// Policy is the reconciler's failure policy. Default DefaultPolicy().
	Policy Policy
	// Limits bound what one request may ask for, checked before anything is created at a
	// provider. Zero fields take DefaultLimits.
	Limits Limits
}

// Config is what the three roles share: their Settings and the runtime they act through (the
// store, the providers, the event sender). NewRoles fills its defaults and validates it, once.
type Config struct {
	Settings
	Store     *idempotency.Store
	Providers map[string]provider.Provider
	Events    Sender
	Codec     *schemas.Codec
	Topology  topology.Topology
	// Metrics counts terminal statuses, retries and dead letters (NewMetrics); nil counts nothing.
	Metrics *Metrics
	// Logger; nil discards. Personal data and secrets are never logged.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// setDefaults fills the zero settings with their defaults.
func (s *Settings) setDefaults() {
	if s.Owner == "" {
		s.Owner = "orderflow-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if s.SubmitRetries <= 0 {
		s.SubmitRetries = 3
	}
	if s.RetryBase <= 0 {
		s.RetryBase = 200 * time.Millisecond
	}
	if s.RetryMax <= 0 {
		s.RetryMax = 5 * time.Second
	}
	if s.PollInterval <= 0 {
		s.PollInterval = 2 * time.Second
	}
	if s.FirstPoll <= 0 {
		s.FirstPoll = time.Second
	}
	s.FirstPoll = min(s.FirstPoll, s.PollInterval)
	if s.NeverStartedAfter <= 0 {
		s.NeverStartedAfter = 5 * time.Minute
	}
	if s.StuckAfter <= 0 {
		s.StuckAfter = 10 * time.Minute
	}
	if s.ActionTimeout <= 0 {
		s.ActionTimeout = time.Hour
	}
	if s.MaxResubmits <= 0 {
		s.MaxResubmits = 2
	}
	// Negative limits are left for Validate to refuse.
	if s.Limits.Validate() == nil {
		s.Limits.setDefaults()
	}
	if s.Policy.Rules == nil {
		s.Policy = DefaultPolicy()
	}
	s.Policy.setDefaults()
}

// pollWait is the wait before the tracker's poll after polls earlier ones of a cart: FirstPoll,
// doubling, at most PollInterval, jittered (backoff.Jitter), in whole milliseconds.
func (s Settings) pollWait(polls int) time.Duration {
	d := s.FirstPoll
	for i := 0; i < polls && d < s.PollInterval; i++ {
		d *= 2
	}
	return backoff.Jitter(min(d, s.PollInterval)).Round(time.Millisecond) // due times are whole milliseconds
}

// Validate checks the settings; it changes nothing.
func (s Settings) Validate() error {
	if err := s.Limits.Validate(); err != nil {
		return err
	}
	return s.Policy.Validate()
}

// setDefaults fills the settings' and the runtime's defaults.
func (c *Config) setDefaults() {
	c.Settings.setDefaults()
	c.Topology = c.Topology.WithDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks cfg: the runtime every role needs, the topology and the settings. It changes
// nothing.
func (c *Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("processor: no store")
	case len(c.Providers) == 0:
		return errors.New("processor: no providers")
	case c.Events == nil:
		return errors.New("processor: no event sender")
	case c.Codec == nil:
		return errors.New("processor: no codec")
	}
	if err := c.Topology.Validate(); err != nil {
		return err
	}
	return c.Settings.Validate()
}

// Roles are the three roles over one Config, and the dead-letter path of their consumers.
type Roles struct {
	Worker     *Worker
	Tracker    *Tracker
	Reconciler *Reconciler
	DeadLetter consumer.DeadLetterFunc
}

// NewRoles fills cfg's defaults, validates it, and returns the roles, which share cfg.
func NewRoles(cfg *Config) (Roles, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Roles{}, err
	}
	return Roles{Worker: &Worker{cfg}, Tracker: &Tracker{cfg}, Reconciler: &Reconciler{cfg}, DeadLetter: DeadLetterer(cfg)}, nil
}

// EventID is the deterministic id of a status event: the same order, attempt, merchant
// order and state always give the same id, so downstream can dedupe re-emissions.
func EventID(orderID string, attempt int, merchant, state string) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s\x00%s", orderID, attempt, merchant, state)))
	return hex.EncodeToString(h[:16])
}

// Fingerprint identifies what an order attempt would charge: the same order id and attempt
// with another fingerprint is refused. Replay metadata and timestamps are not part of it.
func Fingerprint(o schemas.OrderRequested) string {
	// Fields added since the first version are omitted when empty, so the fingerprint of a
	// request that does not use them stays what it was (attempts in flight across an upgrade).
	type item struct {
		Merchant   string
		ProductID  string
		Quantity   int
		PriceCents int64
		Name       string `json:",omitempty"`
		SKUGroupID string `json:",omitempty"`
		Country    string `json:",omitempty"`
	}
	items := make([]item, len(o.Items))
	for i, it := range o.Items {
		items[i] = item{it.Merchant, it.ProductID, it.Quantity, it.PriceCents, it.Name, it.SKUGroupID, it.CountryOfOrigin}
	}
	if o.Items == nil {
		items = nil
	}
	b, _ := json.Marshal(struct {
		P  string
		B  schemas.Buyer
		I  []item
		C  string
		R  string
		S  string
		BA *schemas.Buyer `json:",omitempty"`
	}{o.Provider, o.Buyer, items, o.Currency, o.PaymentRef, o.ShopperIP, o.Billing})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// outcome is what a role stores with a state change and re-emits on redelivery.
type outcome struct {
	Status   []schemas.OrderStatus  `json:",omitempty"`
	Failures []schemas.OrderFailure `json:",omitempty"`
}

func (o outcome) encode() []byte {
	b, _ := json.Marshal(o)
	return b
}

func decodeOutcome(b []byte) (outcome, error) {
	var o outcome
	if len(b) == 0 {
		return o, nil
	}
	err := json.Unmarshal(b, &o)
	return o, err
}

func (c *Config) messages(o outcome) []producer.Message {
	msgs := make([]producer.Message, 0, len(o.Status)+len(o.Failures))
	for _, s := range o.Status {
		msgs = append(msgs, producer.Message{Topic: c.Topology.Status(), Key: s.OrderID, Value: s})
	}
	for _, f := range o.Failures {
		msgs = append(msgs, producer.Message{Topic: c.Topology.Failures(), Key: f.OrderID, Value: f})
	}
	return msgs
}

func (c *Config) emit(ctx context.Context, o outcome, extra ...producer.Message) error {
	return c.send(ctx, append(c.messages(o), extra...)...)
}

// send is every role's way to produce. A record the producer rejects for itself
// (producer.ErrRejected: too large for its topic even shrunk, refused by the broker) can never
// be produced, so retrying the handler's record would block its partition forever: the error
// is marked consumer.Permanent, the engine hands the record to DeadLetterer, and the partition
// moves on. Any other error is transient.
func (c *Config) send(ctx context.Context, msgs ...producer.Message) error {
	err := c.Events.Send(ctx, msgs...)
	if err == nil {
		c.Metrics.sent(c, msgs)
		c.logOutcomes(msgs)
	}
	if errors.Is(err, producer.ErrRejected) {
		return consumer.Permanent(err)
	}
	return err
}

// recordLimiter is a Sender that knows the largest record each topic takes (*producer.Producer).
type recordLimiter interface {
	MaxRecordBytes(topic string) int
}

// derivedHeadroom is what a tracking record or a failure event may add to the request it
// carries: ids, timestamps, the attempt history, required actions.
const derivedHeadroom = 64 << 10

// fits reports, as a *LimitError, a request whose tracking record or failure event would not fit
// its topic (a failure carries the request and its items twice). Checked before anything is
// created at the provider: an order charged whose tracking record can not be produced would
// never be followed. Without a recordLimiter Sender it checks nothing.
func (c *Config) fits(req schemas.OrderRequested, size int) error {
	rl, ok := c.Events.(recordLimiter)
	if !ok {
		return nil
	}
	tracking, failures := c.Topology.Tracking(), c.Topology.Failures()
	if 2*size+derivedHeadroom <= min(rl.MaxRecordBytes(tracking), rl.MaxRecordBytes(failures)) {
		return nil // the common case, without encoding anything
	}
	for _, d := range []struct {
		topic string
		v     schemas.Record
	}{
		{tracking, schemas.Tracking{OrderID: req.OrderID, Attempt: req.Attempt, Provider: req.Provider, Request: req}},
		{failures, schemas.OrderFailure{OrderID: req.OrderID, Attempt: req.Attempt, Provider: req.Provider, FailedItems: req.Items, Request: req}},
	} {
		b, err := c.Codec.Encode(d.topic, d.v)
		if err != nil {
			return fmt.Errorf("encoding the request's %s record: %w", d.topic, err)
		}
		if n, limit := len(b)+2*len(req.OrderID)+derivedHeadroom, rl.MaxRecordBytes(d.topic); n > limit {
			return &LimitError{Limit: "record-bytes", Item: -1, Value: int64(n), Max: int64(limit), Topic: d.topic}
		}
	}
	return nil
}

// status is the status event s of req's attempt (for merchant's order, or order-level).
func (c *Config) status(req schemas.OrderRequested, s Status, cartID, merchant, merchantOrderID string) schemas.OrderStatus {
	return c.event(req, s, string(s), cartID, merchant, merchantOrderID)
}

// statusOf is status for a word an attempt may announce more than once: each occurrence (a
// retry's number, a challenge's URL) is part of the event id, so a new one is a new event and
// a repeated one dedupes.
func (c *Config) statusOf(req schemas.OrderRequested, s Status, occurrence, cartID, merchant, merchantOrderID string) schemas.OrderStatus {
	return c.event(req, s, string(s)+"/"+occurrence, cartID, merchant, merchantOrderID)
}

// event is the status event s whose id is made of key.
func (c *Config) event(req schemas.OrderRequested, s Status, key, cartID, merchant, merchantOrderID string) schemas.OrderStatus {
	return schemas.OrderStatus{
		EventID: EventID(req.OrderID, req.Attempt, merchant, key), OrderID: req.OrderID, Attempt: req.Attempt,
		Provider: req.Provider, State: string(s), CartID: cartID, Merchant: merchant, MerchantOrderID: merchantOrderID,
		Terminal: merchant != "" && (s == StatusPlaced || s == StatusDeadLettered || s == StatusNeedsAttention),
		At:       c.Now().UTC(),
	}
}

// final is one terminal status per merchant of items: every merchant order of an order ends
// with exactly one event whose Terminal is true. Without items it is one order-level event.
func (c *Config) final(req schemas.OrderRequested, state Status, items []schemas.Item, cartID, code, action, msg string) []schemas.OrderStatus {
	var out []schemas.OrderStatus
	for _, m := range merchants(items) {
		st := c.status(req, state, cartID, m, "")
		st.Code, st.Action, st.Message = code, action, msg
		out = append(out, st)
	}
	if len(out) == 0 {
		st := c.status(req, state, cartID, "", "")
		st.Code, st.Action, st.Message, st.Terminal = code, action, msg, true
		out = append(out, st)
	}
	return out
}

// merchants returns the distinct merchants of items, in order.
func merchants(items []schemas.Item) []string {
	var out []string
	seen := map[string]bool{}
	for _, it := range items {
		if !seen[it.Merchant] {
			seen[it.Merchant] = true
			out = append(out, it.Merchant)
		}
	}
	return out
}

// failure builds a failure event from a classified provider error.
func (c *Config) failure(req schemas.OrderRequested, phase, cartID string, pe *provider.Error, history []schemas.Attempt) schemas.OrderFailure {
	return schemas.OrderFailure{
		EventID: EventID(req.OrderID, req.Attempt, "", "failure/"+phase), OrderID: req.OrderID, Attempt: req.Attempt,
		Provider: req.Provider, Phase: phase, Class: pe.Class.String(), Code: pe.Code, Message: pe.Message,
		Retryable: pe.Retryable, HTTPStatus: pe.HTTPStatus, RequestID: pe.RequestID, CartID: cartID,
		Action: string(pe.Action), FailedItems: req.Items, Attempts: history, Request: req, At: c.Now().UTC(),
	}
}

// failed is the outcome of a classified provider failure of req's attempt: a failed status
// and the failure event for the reconciler, in the cart phase without a cart, else in the
// submission phase. A final failure (the attempt ends) carries the provider's action on its
// status; a retryable one (the reconciler schedules a retry) does not.
func (c *Config) failed(ctx context.Context, req schemas.OrderRequested, cartID string, pe *provider.Error, final bool) (outcome, error) {
	history, err := c.history(ctx, req.OrderID)
	if err != nil {
		return outcome{}, err
	}
	phase := PhaseSubmission
	if cartID == "" {
		phase = PhaseCart
	}
	st := c.status(req, StatusFailed, cartID, "", "")
	st.Code, st.Message = pe.Code, pe.Message
	if final {
		st.Action = string(pe.Action)
	}
	return outcome{Status: []schemas.OrderStatus{st}, Failures: []schemas.OrderFailure{c.failure(req, phase, cartID, pe, history)}}, nil
}

// attemptOf turns a provider error into a history entry.
func attemptOf(req schemas.OrderRequested, phase, cartID string, pe *provider.Error, at time.Time, latency time.Duration) schemas.Attempt {
	return schemas.Attempt{At: at.UTC(), Attempt: req.Attempt, Phase: phase, Code: pe.Code, Message: pe.Message,
		Retryable: pe.Retryable, HTTPStatus: pe.HTTPStatus, RequestID: pe.RequestID, CartID: cartID, Latency: latency}
}

// record appends a to the order's history in the store.
func (c *Config) record(ctx context.Context, orderID string, a schemas.Attempt) error {
	b, _ := json.Marshal(a)
	return c.Store.AppendHistory(ctx, orderID, b)
}

// history reads the order's history from the store.
func (c *Config) history(ctx context.Context, orderID string) ([]schemas.Attempt, error) {
	raw, err := c.Store.History(ctx, orderID)
	if err != nil {
		return nil, err
	}
	out := make([]schemas.Attempt, 0, len(raw))
	for _, b := range raw {
		var a schemas.Attempt
		if json.Unmarshal(b, &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// notAnswered returns the error to retry the record with when err, returned by a provider call
// made under ctx, is no answer of the provider, and nil when it is one: the call was not made
// (provider.ErrNotCalled: the shared rate limiter's Redis failed), or ctx ended (shutdown, a
// lost partition) and whatever the call returned says nothing about the order. Such an error
// is never classified nor recorded in the order's history: the record is retried (fail closed).
func notAnswered(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, provider.ErrNotCalled):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("calling the provider: %w (%v)", ctx.Err(), err)
	}
	return nil
}

// asProviderError returns err as a *provider.Error; an unclassified error is treated as
// retryable for calls that charge nothing and as outcome unknown otherwise.
func asProviderError(err error, op string, charges bool) *provider.Error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	class := provider.ClassRetryable
	if charges {
		class = provider.ClassOutcomeUnknown
	}
	return &provider.Error{Class: class, Op: op, Message: err.Error()}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
