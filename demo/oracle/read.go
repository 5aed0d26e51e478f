package oracle

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadTopic returns every record of topic from the log start up to the end offsets it had
// when ReadTopic started, without a consumer group; opts are extra client options (the
// brokers' TLS and SASL). It fails when ctx ends before every partition was read to its end.
func ReadTopic(ctx context.Context, brokers []string, opts []kgo.Opt, topic string) ([]*kgo.Record, error) {
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListStartOffsets(ctx, topic)
	}
	admCl.Close()
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{} // partition -> end offset, for partitions with records
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(topic, o.Partition); o.Offset > 0 && (!ok || s.Offset < o.Offset) {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("reading %s: %w (%d partitions not read to the end)", topic, ctx.Err(), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok {
				return
			}
			if r.Offset < end {
				out = append(out, r)
			}
			if r.Offset+1 >= end { // a control record or a later one ends the partition too
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// Tail reads topic from the log start, without a consumer group, handing every record to each,
// until done reports true (asked before the first fetch and after each) or ctx ends, which is
// the error it then returns. opts are extra client options (the brokers' TLS and SASL).
func Tail(ctx context.Context, brokers []string, opts []kgo.Opt, topic string, each func(*kgo.Record), done func() bool) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		fs.EachRecord(each)
	}
	return nil
}
