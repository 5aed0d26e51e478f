package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// outcomes follows the status topic: an order is finished at its first terminal status event
// of a merchant order (plain orders have one merchant), timed by the record's timestamp (set by
// orderflow's producer when it produced the event).
type outcomes struct {
	mu       sync.Mutex
	sent     map[string]time.Time
	finished map[string]finish
	// stages holds, per status state, when each order's first event of that state was
	// produced: where the time between send and terminal goes.
	stages map[string]map[string]time.Time
	want   int
	all    chan struct{}
}

type finish struct {
	at      time.Time
	outcome string
}

func newOutcomes(want int) *outcomes {
	return &outcomes{sent: map[string]time.Time{}, finished: map[string]finish{}, stages: map[string]map[string]time.Time{}, want: want, all: make(chan struct{})}
}

func (o *outcomes) markSent(id string, at time.Time) {
	o.mu.Lock()
	o.sent[id] = at
	o.mu.Unlock()
}

func (o *outcomes) observe(st schemas.OrderStatus, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ours := o.sent[st.OrderID]; ours {
		byOrder := o.stages[st.State]
		if byOrder == nil {
			byOrder = map[string]time.Time{}
			o.stages[st.State] = byOrder
		}
		if _, seen := byOrder[st.OrderID]; !seen {
			byOrder[st.OrderID] = at
		}
	}
	if !st.Terminal || st.Merchant == "" {
		return
	}
	if _, ok := o.finished[st.OrderID]; ok {
		return
	}
	if _, ours := o.sent[st.OrderID]; !ours {
		return
	}
	out := st.State
	if st.Action != "" {
		out += ":" + st.Action
	}
	o.finished[st.OrderID] = finish{at: at, outcome: out}
	if len(o.finished) == o.want {
		close(o.all)
	}
}

// result is the placed orders' terminal times, every order's send→terminal latency and the
// count per outcome.
func (o *outcomes) result() (placed []time.Time, latencies []time.Duration, byOutcome map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	byOutcome = map[string]int{}
	for id, f := range o.finished {
		byOutcome[f.outcome]++
		latencies = append(latencies, f.at.Sub(o.sent[id]))
		if f.outcome == "placed" {
			placed = append(placed, f.at)
		}
	}
	return placed, latencies, byOutcome
}

// timeline is, per status state, its first events' times.
func (o *outcomes) timeline() map[string][]time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := map[string][]time.Time{}
	for state, byOrder := range o.stages {
		for _, at := range byOrder {
			t[state] = append(t[state], at)
		}
	}
	return t
}

func (o *outcomes) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.finished)
}

// follow consumes the status topic from its start until ctx ends. Its fetches wait for 256 KiB
// or 250 ms: the times it reports are the records' own (set when orderflow produced them), so
// fetching late costs no accuracy, and fetching every few records would load the broker as
// much as orderflow does (it is on the same cores).
func follow(ctx context.Context, opts []kgo.Opt, topic string, codec *schemas.Codec, o *outcomes) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMinBytes(256 << 10), kgo.FetchMaxWait(250 * time.Millisecond)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if st, err := codec.DecodeOrderStatus(ctx, r.Value); err == nil {
				o.observe(st, r.Timestamp)
			}
		})
	}
	return nil
}

// topicCount is what a topic holds: records and their bytes (key + value + header keys and
// values, the record as produced, without Kafka's batch framing).
type topicCount struct {
	topic   string
	records int64
	bytes   int64
}

// countTopics reads every record of the deployment's topics but the requests topic (which the
// bench loaded; orderflow's own records there are counted by records alone: requests).
func countTopics(ctx context.Context, opts []kgo.Opt, topo topology.Topology) (counts []topicCount, requests int64, err error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := []string{topo.Status(), topo.Tracking(), topo.Failures(), topo.DLQ(), topo.Replays()}
	topics = append(topics, topo.RetryTopics()...)
	starts, err := adm.ListStartOffsets(ctx, append(topics, topo.Requests())...)
	if err != nil {
		return nil, 0, err
	}
	ends, err := adm.ListEndOffsets(ctx, append(topics, topo.Requests())...)
	if err != nil {
		return nil, 0, err
	}
	want := map[string]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		s, _ := starts.Lookup(e.Topic, e.Partition)
		want[e.Topic] += e.Offset - s.Offset
	})
	requests = want[topo.Requests()]
	byTopic := map[string]*topicCount{}
	var total int64
	for _, t := range topics {
		byTopic[t] = &topicCount{topic: t}
		total += want[t]
	}
	if total > 0 {
		rd, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
		if err != nil {
			return nil, 0, err
		}
		defer rd.Close()
		ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		var seen int64
		for seen < total {
			fs := rd.PollFetches(ctx)
			if ctx.Err() != nil {
				return nil, 0, fmt.Errorf("reading the topics back: %d of %d records: %w", seen, total, ctx.Err())
			}
			fs.EachRecord(func(r *kgo.Record) {
				c := byTopic[r.Topic]
				c.records++
				c.bytes += int64(len(r.Key) + len(r.Value))
				for _, h := range r.Headers {
					c.bytes += int64(len(h.Key) + len(h.Value))
				}
				seen++
			})
		}
	}
	for _, t := range topics {
		if c := byTopic[t]; want[t] > 0 {
			c.records = want[t] // offsets, the broker's count (reading back matched it or timed out above)
			counts = append(counts, *c)
		}
	}
	return counts, requests, nil
}

// dropTopics deletes the run's topics and consumer groups (real services only: the embedded
// broker goes with the process); a failure is reported, not fatal.
func dropTopics(ctx context.Context, opts []kgo.Opt, topo topology.Topology) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	topics := append([]string{topo.Requests(), topo.Status(), topo.Tracking(), topo.Failures(), topo.DLQ(), topo.Replays()}, topo.RetryTopics()...)
	if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e: deleting the run's topics:", err)
	}
	if _, err := adm.DeleteGroups(ctx, topo.WorkerGroup(), topo.TrackerGroup(), topo.ReconcilerGroup()); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e: deleting the run's groups:", err)
	}
}
