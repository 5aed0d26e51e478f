package consumer

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Commits: a partition's commit point (p.commitTo) is the offset below which every accepted
// record is finished (finish advances it over the contiguous finished prefix of p.pending);
// commitLoop commits it periodically, a revoke once more, synchronously, for the partitions it
// revokes.

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
	c.addInFlight(p, -1)
}

// commitLoop commits the assigned partitions' commit points every CommitInterval until ctx ends.
func (c *Consumer) commitLoop(ctx context.Context) {
	every(ctx, c.cfg.CommitInterval, func() {
		c.commitMu.Lock()
		defer c.commitMu.Unlock()
		c.mu.Lock()
		parts := make([]*partition, 0, len(c.parts))
		for _, p := range c.parts {
			parts = append(parts, p)
		}
		c.mu.Unlock()
		c.commit(ctx, c.cl, parts, false)
	})
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
