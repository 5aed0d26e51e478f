package consumer

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Rebalances: kgo calls assigned, revoked and lost with polling blocked (BlockRebalanceOnPoll);
// Close runs revoked for every partition, abort detaches every partition the way lost does.

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
			p := &partition{tp: tp{t, n}, ctx: ctx, cancel: cancel, next: -1,
				commitTo: kgo.EpochOffset{Epoch: -1, Offset: -1}, committed: -1}
			c.parts[tp{t, n}] = p
			c.addInFlight(p, 0) // the partition's in-flight series, at 0
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
	c.addInFlight(p, -dropped)
	p.held = nil
	if p.paused {
		// Pauses outlive assignments in kgo: resume so a later assignment fetches.
		p.paused = false
		c.cl.ResumeFetchPartitions(map[string][]int32{p.tp.topic: {p.tp.partition}})
	}
	if p.running > 0 {
		p.drained = make(chan struct{})
	}
	// Another member reports its lag and in-flight records from now on; what it still runs
	// here (draining) is no longer counted per partition.
	c.metrics.lag.DeleteLabelValues(p.tp.labels()...)
	c.metrics.inFlight.DeleteLabelValues(p.tp.labels()...)
}
