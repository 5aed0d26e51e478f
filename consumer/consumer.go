package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/due"
)

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
	// detaches, so a periodic commit never carries a revoked partition (see ARCHITECTURE.md).
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
	tp       tp
	ctx      context.Context
	cancel   context.CancelFunc
	next     int64    // lowest offset not yet accepted; older redeliveries are dropped
	pending  []*entry // accepted, unfinished or finished-but-not-contiguous, in offset order
	held     []*entry // not yet due, in offset order (a suffix of pending)
	timer    *time.Timer
	paused   bool
	running  int // entries handed to key queues and not yet finished or abandoned
	inFlight int // accepted entries not yet finished or dropped (its share of Consumer.inFlight)
	revoked  bool
	drained  chan struct{} // closed when revoked and running reaches 0

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

// New builds a Consumer and its franz-go client, filling cfg's defaults. It does not join the
// group until Run.
func New(cfg Config, h Handler) (*Consumer, error) {
	cfg = cfg.withDefaults()
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
		kgo.FetchMaxWait(cfg.FetchMaxWait),
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

// addInFlight adds n to the records in flight, the engine's and p's, and sets p's in-flight
// gauge while p is assigned (detachLocked deletes a detached partition's series). Records
// leaving wake the poll loop. c.mu held.
func (c *Consumer) addInFlight(p *partition, n int) {
	c.inFlight += n
	p.inFlight += n
	if !p.revoked {
		c.metrics.inFlight.WithLabelValues(p.tp.labels()...).Set(float64(p.inFlight))
	}
	if n < 0 {
		select {
		case c.space <- struct{}{}:
		default:
		}
	}
}

// accept takes one polled record into the engine: it holds it while it is not due (or its
// partition holds an earlier record), gates it while its key has held records, and dispatches
// it to its key otherwise.
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
	c.addInFlight(p, 1)
	if at := due.Of(r); len(p.held) > 0 || time.Now().Before(at) {
		e.held = true
		p.held = append(p.held, e)
		if len(p.held) == 1 {
			c.armTimer(p, at)
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

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
