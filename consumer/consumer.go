// Package consumer is orderflow's Kafka consumption engine: a franz-go group consumer that
// processes records of different keys concurrently and records of one key strictly in order,
// under a global in-flight cap, and commits per partition only the offset below which every
// record is finished.
//
// Records carrying a due time (header DueHeader, unix milliseconds) are held, with their
// partition paused, until that time; this is how delay-tier retry topics and the tracker's
// polling schedule work without sleeping goroutines or busy polling.
//
// Per-key order holds across held records too: a key's records reach the handler in the order
// the engine accepted them, whatever topic or partition they come from. While a key has held
// records, a later record of the key (due or not, from any partition) waits behind them, and
// other keys keep flowing: a later event of an order waiting on a retry runs after the retry.
//
// On revoke (cooperative-sticky rebalance, or shutdown) the engine stops taking records of the
// revoked partitions and drops their held ones (and those waiting behind held ones), lets the
// records it already handed to key queues finish within Config.RevokeTimeout, and commits
// synchronously. On lost partitions it
// cancels their work and commits nothing.
//
// Non-obvious:
//   - The client runs with kgo.BlockRebalanceOnPoll and the poll loop allows rebalances only
//     after every polled record is accepted, so a record polled under one assignment can never
//     be accepted under the next (that would leave a gap below the commit point).
//   - A partition's commit point starts unknown (-1): nothing is committed for it until a record
//     of this assignment finishes, so an idle partition never rewinds the group's offset.
//   - The periodic committer and revocation share commitMu: a partition is revoked only while
//     no periodic commit is in flight, so a stale periodic commit can not land after the
//     revoke's final commit and rewind what the next owner committed.
//   - Revokes run one at a time: when a rebalance revokes partitions that Close is still
//     draining, kgo's callback waits for Close's commit before the group may reassign them.
//   - Records a revoked partition already handed to key queues still run (until the deadline):
//     a graceful rebalance then hands over exactly the finished prefix, with no redelivery.
//   - A record accepted while its key has held records (in any partition) is not handed to the
//     key's queue: it waits in the key's gate, behind them, in arrival order, and is dispatched
//     when every earlier record of the key has been. A waiting record counts toward
//     MaxInFlight and blocks its partition's commit, but its partition is not paused (that
//     would stop other keys). When a partition is revoked or lost, its held and waiting
//     records are dropped (never run, never committed), and the records of other partitions
//     that waited behind its held ones are released at once: they do not wait for a due time
//     nobody holds any more (the handler's idempotency covers the reordering across members).
//     A gate only ever waits for held records, and those are released by their own
//     partition's timer alone, so gates can not deadlock; a key whose held record is due far
//     ahead keeps its later records (and their partitions' commits) waiting until then.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-retry"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DueHeader names the record header holding the earliest time (unix ms, decimal) at which the
// handler may see the record.
const DueHeader = "orderflow-due-ms"

// Handler processes one record.
//
// Error contract: nil means the record's effects are complete (events produced and
// acknowledged) and its offset may be committed. An error wrapped with Permanent means the
// record can never be processed (for example it does not decode): the engine passes it to
// Config.DeadLetter and moves on once that succeeds. Any other error is transient (Redis
// down, a produce failed): the engine retries the same record with capped, jittered
// exponential backoff, holding back later records of the same key and the partition's commit.
// Handlers must be idempotent: a record may be delivered again after a crash or rebalance.
type Handler interface {
	Handle(ctx context.Context, r *kgo.Record) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *kgo.Record) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, r *kgo.Record) error { return f(ctx, r) }

// DeadLetterFunc parks a record that can never be processed, with the reason. It must not
// return before the dead letter is durably stored (produce acknowledged).
type DeadLetterFunc func(ctx context.Context, r *kgo.Record, reason error) error

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the record goes to the dead-letter path.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Config configures a Consumer.
type Config struct {
	// Brokers to bootstrap from. Required.
	Brokers []string
	// Group is the consumer group id. Required.
	Group string
	// Topics to consume. Required.
	Topics []string
	// MaxInFlight caps records taken from Kafka and not yet finished, held delay records and
	// the records of their keys waiting behind them included. When reached, the engine stops
	// polling. Default 1000.
	MaxInFlight int
	// RevokeTimeout bounds how long a revoke or shutdown waits for accepted records of the
	// revoked partitions; it must stay below the group's rebalance timeout (kgo default 60s).
	// Default 10s.
	RevokeTimeout time.Duration
	// CommitInterval is how often finished offsets are committed. Default 500ms.
	CommitInterval time.Duration
	// RetryBase and RetryMax shape the backoff for transient handler errors. Defaults 50ms, 5s.
	RetryBase, RetryMax time.Duration
	// LagInterval is how often the lag gauge (orderflow_consumer_lag) is refreshed: the
	// committed lag of every partition this member owns, from the brokers' end offsets and the
	// group's committed offsets. Only with a Registerer. Default 5s.
	LagInterval time.Duration
	// DeadLetter receives records whose handler returned a Permanent error. Required.
	DeadLetter DeadLetterFunc
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the engine's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Opts are extra franz-go client options (TLS, SASL, session timeouts, balancers...). The
	// options the engine depends on (group, topics, manual commits, rebalance callbacks,
	// BlockRebalanceOnPoll) are applied after them and can not be overridden.
	Opts []kgo.Opt
}

// Validate checks cfg and fills defaults.
func (c *Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("consumer: no brokers")
	case c.Group == "":
		return errors.New("consumer: no group")
	case len(c.Topics) == 0:
		return errors.New("consumer: no topics")
	case c.DeadLetter == nil:
		return errors.New("consumer: no dead-letter func")
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1000
	}
	if c.RevokeTimeout <= 0 {
		c.RevokeTimeout = 10 * time.Second
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = 500 * time.Millisecond
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 50 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.LagInterval <= 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Consumer is a running group member. Create with New, then Run.
type Consumer struct {
	cfg     Config
	h       Handler
	cl      *kgo.Client
	metrics *metrics

	mu    sync.Mutex
	parts map[tp]*partition
	keys  map[string]*keyQueue
	// gates holds, per key with held records, the key's accepted records not yet dispatched,
	// in arrival order: held ones and the ones waiting behind them. Its first entry is always
	// held (a key without held records has no gate).
	gates    map[string][]*entry
	inFlight int
	space    chan struct{} // signalled when inFlight drops below the cap
	wg       sync.WaitGroup

	// commitMu is held by a periodic commit from snapshot to response and by a revoke while it
	// detaches, so a periodic commit never carries a revoked partition (see the package doc).
	commitMu sync.Mutex
	// revokeMu serializes whole revokes (detach, drain, commit): kgo's callback must not return,
	// letting the group hand partitions over, while Close is still draining and committing them.
	revokeMu sync.Mutex

	// dead is set by abort: the member behaves as a killed process (no commits, no drains).
	dead atomic.Bool

	closeOnce sync.Once
}

type tp struct {
	topic     string
	partition int32
}

// partition is the engine's state for one assigned partition in one assignment.
type partition struct {
	tp      tp
	ctx     context.Context
	cancel  context.CancelFunc
	next    int64    // lowest offset not yet accepted; older redeliveries are dropped
	pending []*entry // accepted, unfinished or finished-but-not-contiguous, in offset order
	held    []*entry // not yet due, in offset order (a suffix of pending)
	timer   *time.Timer
	paused  bool
	running int // entries handed to key queues and not yet finished or abandoned
	revoked bool
	drained chan struct{} // closed when revoked and running reaches 0

	commitTo  kgo.EpochOffset // the next offset to commit (everything below is finished); -1 until known
	committed int64           // the last commitTo acknowledged by the group; -1 until then
}

type entry struct {
	r     *kgo.Record
	p     *partition
	key   string
	held  bool // in p.held: not yet due (or behind one of its partition that is not)
	gated bool // in its key's gate: held, or waiting behind held records of its key
	done  bool
}

type keyQueue struct {
	items []*entry
}

// New builds a Consumer and its franz-go client. It does not join the group until Run.
func New(cfg Config, h Handler) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("consumer: nil handler")
	}
	c := &Consumer{
		cfg:   cfg,
		h:     h,
		parts: map[tp]*partition{},
		keys:  map[string]*keyQueue{},
		gates: map[string][]*entry{},
		space: make(chan struct{}, 1),
	}
	m, err := newMetrics(cfg.Registerer, cfg.Group)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
	}
	opts = append(opts, cfg.Opts...)
	opts = append(opts,
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating consumer client: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Client returns the underlying franz-go client, for admin requests and metadata. Committing,
// pausing or closing through it bypasses the engine's bookkeeping.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Run polls and processes until ctx is done, then stops taking records, lets started ones
// finish within RevokeTimeout, commits, and leaves the group. It returns nil on a clean stop.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.Close()
	commitDone, lagDone := make(chan struct{}), make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.Background())
	go func() {
		defer close(commitDone)
		c.commitLoop(commitCtx)
	}()
	go func() {
		defer close(lagDone)
		c.lagLoop(commitCtx)
	}()
	err := c.pollLoop(ctx)
	stopCommits()
	<-commitDone
	<-lagDone
	return err
}

func (c *Consumer) pollLoop(ctx context.Context) error {
	for {
		free := c.waitForSpace(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !c.pollOnce(ctx, free) {
			return nil
		}
	}
}

// pollOnce polls at most max records and accepts them, all before allowing a rebalance. It
// reports whether polling should go on.
func (c *Consumer) pollOnce(ctx context.Context, max int) bool {
	fetches := c.cl.PollRecords(ctx, max)
	defer c.cl.AllowRebalance() // every PollRecords return blocks rebalances, errors included
	if fetches.IsClientClosed() || ctx.Err() != nil {
		// Records polled with this fetch are dropped: they were never accepted, so the commit
		// point stays below them.
		return false
	}
	fetches.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) {
			c.cfg.Logger.Warn("fetch error", "topic", t, "partition", p, "err", err)
		}
	})
	fetches.EachRecord(c.accept)
	return true
}

// waitForSpace blocks until fewer than MaxInFlight records are in flight and returns how many
// more may be taken.
func (c *Consumer) waitForSpace(ctx context.Context) int {
	for {
		c.mu.Lock()
		free := c.cfg.MaxInFlight - c.inFlight
		c.mu.Unlock()
		if free > 0 {
			return free
		}
		select {
		case <-c.space:
		case <-ctx.Done():
			return 0
		}
	}
}

// accept takes one polled record into the engine.
func (c *Consumer) accept(r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.parts[tp{r.Topic, r.Partition}]
	if c.dead.Load() || p == nil || p.revoked || r.Offset < p.next {
		return // not ours any more, or a stale copy from a poll that raced a rebalance
	}
	p.next = r.Offset + 1
	e := &entry{r: r, p: p, key: keyOf(r)}
	p.pending = append(p.pending, e)
	c.inFlight++
	c.metrics.inFlight.Set(float64(c.inFlight))
	if due := dueTime(r); len(p.held) > 0 || time.Now().Before(due) {
		e.held = true
		p.held = append(p.held, e)
		if len(p.held) == 1 {
			c.armTimer(p, due)
		}
		if !p.paused {
			p.paused = true
			c.cl.PauseFetchPartitions(map[string][]int32{r.Topic: {r.Partition}})
		}
	}
	if e.held || len(c.gates[e.key]) > 0 {
		// Held, or behind held records of its key: it waits in the key's gate.
		e.gated = true
		c.gates[e.key] = append(c.gates[e.key], e)
		return
	}
	c.dispatch(e)
}

// openGate dispatches k's gated records up to its first held one, in order, and removes the
// gate once nothing of it is held any more. c.mu held.
func (c *Consumer) openGate(k string) {
	g := c.gates[k]
	i := 0
	for ; i < len(g) && !g[i].held; i++ {
		g[i].gated = false
		c.dispatch(g[i])
		g[i] = nil
	}
	if i == len(g) {
		delete(c.gates, k)
	} else if i > 0 {
		c.gates[k] = g[i:]
	}
}

// dispatch appends e to its key's queue, starting the key's goroutine if it was idle. c.mu held.
func (c *Consumer) dispatch(e *entry) {
	e.p.running++
	k := e.key
	q := c.keys[k]
	if q == nil {
		q = &keyQueue{}
		c.keys[k] = q
		c.wg.Add(1)
		go c.runKey(k, q)
	}
	q.items = append(q.items, e)
}

func keyOf(r *kgo.Record) string {
	if len(r.Key) == 0 {
		// No key, no ordering promise: every record is its own key.
		return fmt.Sprintf("\x00%s/%d/%d", r.Topic, r.Partition, r.Offset)
	}
	return string(r.Key)
}

func dueTime(r *kgo.Record) time.Time {
	for _, h := range r.Headers {
		if h.Key == DueHeader {
			if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				return time.UnixMilli(ms)
			}
		}
	}
	return time.Time{}
}

// armTimer schedules the release of p's held records at due. c.mu held.
func (c *Consumer) armTimer(p *partition, due time.Time) {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(time.Until(due), func() { c.releaseDue(p) })
}

// releaseDue releases p's held records that are due, in order, and re-arms for the rest. A
// released record is dispatched unless an earlier record of its key is still held elsewhere.
func (c *Consumer) releaseDue(p *partition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.revoked {
		return
	}
	now := time.Now()
	for len(p.held) > 0 {
		e := p.held[0]
		if due := dueTime(e.r); now.Before(due) {
			c.armTimer(p, due)
			return
		}
		p.held[0] = nil
		p.held = p.held[1:]
		e.held = false
		c.openGate(e.key)
	}
	if p.paused {
		p.paused = false
		c.cl.ResumeFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.partition}})
	}
}

// runKey processes one key's records in order until its queue is empty.
func (c *Consumer) runKey(k string, q *keyQueue) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		if len(q.items) == 0 {
			delete(c.keys, k)
			c.mu.Unlock()
			return
		}
		e := q.items[0]
		q.items = q.items[1:]
		// A revoked partition's queued records still run until its revoke deadline cancels
		// the partition; a lost or timed-out partition's are abandoned.
		skip := e.p.ctx.Err() != nil
		c.mu.Unlock()

		if skip {
			c.metrics.records.WithLabelValues(e.r.Topic, "abandoned").Inc()
			c.finish(e, false)
			continue
		}
		c.finish(e, c.process(e))
	}
}

// process runs the handler until the record is finished (true) or its partition's context
// ends (false: abandoned, never committed).
func (c *Consumer) process(e *entry) bool {
	ctx := e.p.ctx
	start := time.Now()
	b := retry.WithCappedDuration(c.cfg.RetryMax, retry.WithJitterPercent(20, retry.NewExponential(c.cfg.RetryBase)))
	outcome := "ok"
	err := retry.Do(ctx, b, func(ctx context.Context) error {
		err := c.h.Handle(ctx, e.r)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return err
		case IsPermanent(err):
			outcome = "dead_lettered"
			if dlErr := c.cfg.DeadLetter(ctx, e.r, err); dlErr != nil {
				c.cfg.Logger.Error("dead-lettering record", "topic", e.r.Topic, "partition", e.r.Partition, "offset", e.r.Offset, "err", dlErr)
				return retry.RetryableError(dlErr)
			}
			return nil
		default:
			c.metrics.records.WithLabelValues(e.r.Topic, "retried").Inc()
			c.cfg.Logger.Warn("handler failed, retrying", "topic", e.r.Topic, "partition", e.r.Partition, "offset", e.r.Offset, "err", err)
			return retry.RetryableError(err)
		}
	})
	if err != nil {
		c.metrics.records.WithLabelValues(e.r.Topic, "abandoned").Inc()
		return false
	}
	c.metrics.records.WithLabelValues(e.r.Topic, outcome).Inc()
	c.metrics.latency.WithLabelValues(e.r.Topic).Observe(time.Since(start).Seconds())
	return true
}

// finish records the end of an entry and advances its partition's commit point.
func (c *Consumer) finish(e *entry, finished bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := e.p
	e.done = finished
	p.running--
	for len(p.pending) > 0 && p.pending[0].done {
		r := p.pending[0].r
		p.commitTo = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		p.pending = p.pending[1:]
	}
	if p.revoked && p.running == 0 && p.drained != nil {
		close(p.drained)
		p.drained = nil
	}
	c.inFlight--
	c.metrics.inFlight.Set(float64(c.inFlight))
	select {
	case c.space <- struct{}{}:
	default:
	}
}

// assigned creates state for newly assigned partitions.
func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	if c.dead.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for t, ps := range assigned {
		for _, n := range ps {
			if old := c.parts[tp{t, n}]; old != nil {
				// kgo revokes or loses a partition before assigning it again; if it ever does
				// not, the old assignment's work is abandoned rather than mixed in.
				touched := map[string]bool{}
				c.detachLocked(old, touched)
				c.openGates(touched)
				old.cancel()
			}
			ctx, cancel := context.WithCancel(context.Background())
			c.parts[tp{t, n}] = &partition{tp: tp{t, n}, ctx: ctx, cancel: cancel, next: -1,
				commitTo: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: -1}
		}
	}
	c.cfg.Logger.Info("partitions assigned", "group", c.cfg.Group, "partitions", assigned)
}

// revoked drains and commits the revoked partitions. It runs in kgo's rebalance callback (or in
// Close), with polling blocked.
func (c *Consumer) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	c.revokeMu.Lock()
	defer c.revokeMu.Unlock()
	c.commitMu.Lock() // from here on no periodic commit carries these partitions
	parts := c.detach(revoked)
	c.commitMu.Unlock()
	if len(parts) == 0 {
		return
	}
	if c.dead.Load() {
		for _, p := range parts {
			p.cancel()
		}
		return
	}
	deadline := time.NewTimer(c.cfg.RevokeTimeout)
	defer deadline.Stop()
wait:
	for _, p := range parts {
		c.mu.Lock()
		drained := p.drained
		c.mu.Unlock()
		if drained == nil {
			continue
		}
		select {
		case <-drained:
		case <-deadline.C:
			// One deadline for all partitions: stop waiting (a record can sit behind a key
			// whose other records belong to partitions we keep, and retry forever).
			c.cfg.Logger.Warn("revoke timeout: abandoning unfinished records", "group", c.cfg.Group, "partitions", revoked)
			break wait
		}
	}
	for _, p := range parts {
		p.cancel() // abandons what did not finish; the commit below stops before it
	}
	c.commit(ctx, cl, parts, true)
	c.cfg.Logger.Info("partitions revoked", "group", c.cfg.Group, "partitions", revoked)
}

// lost abandons the lost partitions without committing. It does not wait for a periodic
// commit in flight: the group already fenced this member, so such a commit is refused.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	for _, p := range c.detach(lost) {
		p.cancel()
	}
	c.cfg.Logger.Warn("partitions lost", "group", c.cfg.Group, "partitions", lost)
}

// detach marks partitions revoked, drops their held records and removes them from the engine.
// Records already handed to key queues stay there: revoked drains them, lost cancels them.
func (c *Consumer) detach(m map[string][]int32) []*partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*partition
	touched := map[string]bool{}
	for t, ps := range m {
		for _, n := range ps {
			if p := c.parts[tp{t, n}]; p != nil {
				c.detachLocked(p, touched)
				out = append(out, p)
			}
		}
	}
	c.openGates(touched)
	return out
}

// detachLocked removes p from the engine and drops its held records and its records waiting
// in key gates, adding the keys whose gates it changed to touched; the caller opens those once
// every partition it detaches is detached (see openGates). c.mu held.
func (c *Consumer) detachLocked(p *partition, touched map[string]bool) {
	delete(c.parts, p.tp)
	p.revoked = true
	if p.timer != nil {
		p.timer.Stop()
	}
	dropped := 0
	for _, e := range p.pending {
		if e.gated {
			e.gated, e.held = false, false
			touched[e.key] = true
			dropped++
		}
	}
	if dropped > 0 {
		for k := range touched {
			g := slices.DeleteFunc(c.gates[k], func(e *entry) bool { return e.p == p })
			if len(g) == 0 {
				delete(c.gates, k)
			} else {
				c.gates[k] = g
			}
		}
	}
	c.inFlight -= dropped
	p.held = nil
	if p.paused {
		// Pauses outlive assignments in kgo: resume so a later assignment fetches.
		p.paused = false
		c.cl.ResumeFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.partition}})
	}
	if p.running > 0 {
		p.drained = make(chan struct{})
	}
	// Another member reports its lag from now on.
	c.metrics.lag.DeleteLabelValues(p.tp.topic, strconv.Itoa(int(p.tp.partition)))
	c.metrics.inFlight.Set(float64(c.inFlight))
	select {
	case c.space <- struct{}{}:
	default:
	}
}

// openGates dispatches the records that detached partitions' held records were holding back:
// those of the touched keys that no held record precedes any more. c.mu held.
func (c *Consumer) openGates(touched map[string]bool) {
	for k := range touched {
		if g := c.gates[k]; len(g) > 0 && !g[0].held {
			c.openGate(k)
		}
	}
}

func (c *Consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.commitMu.Lock()
			c.mu.Lock()
			parts := make([]*partition, 0, len(c.parts))
			for _, p := range c.parts {
				parts = append(parts, p)
			}
			c.mu.Unlock()
			c.commit(ctx, c.cl, parts, false)
			c.commitMu.Unlock()
		}
	}
}

// lagLoop refreshes the lag gauge every LagInterval until ctx ends.
func (c *Consumer) lagLoop(ctx context.Context) {
	if c.cfg.Registerer == nil {
		return // nobody can read it
	}
	adm := kadm.NewClient(c.cl)
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.updateLag(ctx, adm); err != nil && ctx.Err() == nil {
				c.cfg.Logger.Warn("refreshing the lag gauge", "group", c.cfg.Group, "err", err)
			}
		}
	}
}

// updateLag sets the lag gauge of every partition this member owns to its committed lag: the
// partition's end offset (high watermark) minus the group's committed offset, or minus the log
// start offset while the group committed nothing for it. This is the lag a stuck partition
// keeps: its records were fetched and accepted long ago, but its commit point does not move.
// Both offsets come from the brokers, so the gauge is right whatever the engine believes.
func (c *Consumer) updateLag(ctx context.Context, adm *kadm.Client) error {
	c.mu.Lock()
	owned := make(map[tp]*partition, len(c.parts))
	var topics []string
	for k, p := range c.parts {
		owned[k] = p
		if !slices.Contains(topics, k.topic) {
			topics = append(topics, k.topic)
		}
	}
	c.mu.Unlock()
	if len(owned) == 0 || c.dead.Load() {
		return nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("listing end offsets: %w", err)
	}
	commits, err := adm.FetchOffsets(ctx, c.cfg.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("fetching committed offsets: %w", err)
	}
	var starts kadm.ListedOffsets
	lags := make(map[tp]int64, len(owned))
	for k := range owned {
		end, ok := ends.Lookup(k.topic, k.partition)
		if !ok || end.Err != nil {
			continue
		}
		from := int64(-1)
		if o, ok := commits.Lookup(k.topic, k.partition); ok && o.Err == nil {
			from = o.At
		}
		if from < 0 {
			if starts == nil {
				if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
					return fmt.Errorf("listing start offsets: %w", err)
				}
			}
			start, ok := starts.Lookup(k.topic, k.partition)
			if !ok || start.Err != nil {
				continue
			}
			from = start.Offset
		}
		lags[k] = max(0, end.Offset-from)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, lag := range lags {
		if p := c.parts[k]; p != nil && p == owned[k] { // still this assignment (detach deletes)
			c.metrics.lag.WithLabelValues(k.topic, strconv.Itoa(int(k.partition))).Set(float64(lag))
		}
	}
	return nil
}

// commit synchronously commits every partition's finished prefix that is ahead of what was
// committed. Revoked partitions are committed only by their revoke (final is true).
func (c *Consumer) commit(ctx context.Context, cl *kgo.Client, parts []*partition, final bool) {
	if c.dead.Load() {
		return
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	c.mu.Lock()
	for _, p := range parts {
		if p.revoked && !final {
			continue
		}
		if p.commitTo.Offset >= 0 && p.commitTo.Offset > p.committed {
			if offsets[p.tp.topic] == nil {
				offsets[p.tp.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.tp.topic][p.tp.partition] = p.commitTo
		}
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return
	}
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				c.cfg.Logger.Warn("committing offsets", "group", c.cfg.Group, "err", err)
			}
			return
		}
		c.cfg.Logger.Debug("committed offsets", "group", c.cfg.Group, "final", final, "offsets", offsets)
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					c.cfg.Logger.Warn("committing offset", "group", c.cfg.Group, "topic", t.Topic, "partition", rp.Partition, "err", err)
					continue
				}
				for _, p := range parts {
					if p.tp.topic == t.Topic && p.tp.partition == rp.Partition {
						p.committed = offsets[t.Topic][rp.Partition].Offset
					}
				}
			}
		}
	})
}

// Close stops the consumer: it treats every partition as revoked (drain within RevokeTimeout,
// commit) and leaves the group, then waits up to RevokeTimeout for handlers that ignore their
// cancelled context. It is idempotent; Run calls it on return.
func (c *Consumer) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		all := map[string][]int32{}
		for k := range c.parts {
			all[k.topic] = append(all[k.topic], k.partition)
		}
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*c.cfg.RevokeTimeout)
		c.revoked(ctx, c.cl, all)
		cancel()
		c.cl.Close()

		done := make(chan struct{})
		go func() {
			c.wg.Wait()
			close(done)
		}()
		t := time.NewTimer(c.cfg.RevokeTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			c.cfg.Logger.Error("closing consumer: handlers still running past their cancellation", "group", c.cfg.Group)
		}
	})
}

// abort makes the member behave as a killed process (kill -9), for crash tests: every
// partition's work is cancelled, nothing more is committed or drained, and the client closes
// without a LeaveGroup request (a cancelled leave context), so the group notices only when the
// session times out. The caller should also cut the client's network (tests use a dialer they
// can sever) so no in-flight request lands after the "crash".
func (c *Consumer) abort() {
	c.dead.Store(true)
	c.mu.Lock()
	touched := map[string]bool{}
	for _, p := range c.parts {
		c.detachLocked(p, touched)
		p.cancel()
	}
	c.openGates(touched) // every partition is detached: no gate is left to open
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.cl.LeaveGroupContext(ctx)
	c.Close()
}
