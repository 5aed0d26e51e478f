package consumer

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/due"
)

// Per-key ordering and held records: a key's dispatched records run one at a time, in order, in
// the key's goroutine (runKey); a record not yet due is held in its partition (p.held, the
// partition paused) and, with every later record of its key, in the key's gate (c.gates) until
// its partition's timer releases it (releaseDue).

type keyQueue struct {
	items []*entry
}

func keyOf(r *kgo.Record) string {
	if len(r.Key) == 0 {
		// No key, no ordering promise: every record is its own key.
		return fmt.Sprintf("\x00%s/%d/%d", r.Topic, r.Partition, r.Offset)
	}
	return string(r.Key)
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

// openGates dispatches the records that detached partitions' held records were holding back:
// those of the touched keys that no held record precedes any more. c.mu held.
func (c *Consumer) openGates(touched map[string]bool) {
	for k := range touched {
		if g := c.gates[k]; len(g) > 0 && !g[0].held {
			c.openGate(k)
		}
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

// armTimer schedules the release of p's held records at at. c.mu held.
func (c *Consumer) armTimer(p *partition, at time.Time) {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timer = time.AfterFunc(time.Until(at), func() { c.releaseDue(p) })
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
		if at := due.Of(e.r); now.Before(at) {
			c.armTimer(p, at)
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
