package oracle

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/schemas"
)

// StatusDecoder decodes a status record's value (*schemas.Codec).
type StatusDecoder interface {
	DecodeOrderStatus(context.Context, []byte) (schemas.OrderStatus, error)
}

// MerchantOrder is one merchant's order of an order: the unit that ends with one terminal event.
type MerchantOrder struct{ OrderID, Merchant string }

// Terminal is one terminal status event as read, with where it was read.
type Terminal struct {
	EventID   string
	Attempt   int
	State     string
	Action    string
	Partition int32
	Offset    int64
}

func (e Terminal) String() string {
	s := fmt.Sprintf("attempt %d %s", e.Attempt, e.State)
	if e.Action != "" {
		s += ":" + e.Action
	}
	id := e.EventID
	if len(id) > 12 {
		id = id[:12]
	}
	return fmt.Sprintf("%s (event %s, p%d@%d)", s, id, e.Partition, e.Offset)
}

// Follower reads a status topic from the start into its Tally and keeps every distinct
// terminal event of each merchant order, which the one-terminal and dead-letter checks need.
// It is safe for concurrent use.
type Follower struct {
	// Tally holds every decoded event, deduplicated by event id.
	Tally *demo.Tally
	codec StatusDecoder

	mu         sync.Mutex
	terminals  map[MerchantOrder]map[string]Terminal // event id -> event
	lastTerm   map[string]time.Time                  // order -> when its latest new terminal event was read
	next       map[int32]int64                       // partition -> offset after the last record read
	records    int
	decodeErrs int
	firstErr   error
}

// NewFollower returns a Follower decoding with codec, with an empty Tally.
func NewFollower(codec StatusDecoder) *Follower {
	return &Follower{Tally: demo.NewTally(), codec: codec, terminals: map[MerchantOrder]map[string]Terminal{},
		lastTerm: map[string]time.Time{}, next: map[int32]int64{}}
}

// Run follows topic from its start until ctx ends; opts are extra client options (the
// brokers' TLS and SASL). It returns an error only when the client can not be built.
func (f *Follower) Run(ctx context.Context, brokers []string, opts []kgo.Opt, topic string) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { f.observe(ctx, r) })
	}
	return nil
}

func (f *Follower) observe(ctx context.Context, r *kgo.Record) {
	st, err := f.codec.DecodeOrderStatus(ctx, r.Value)
	f.mu.Lock()
	f.records++
	f.next[r.Partition] = r.Offset + 1
	if err != nil {
		f.decodeErrs++
		if f.firstErr == nil {
			f.firstErr = fmt.Errorf("status p%d@%d: %w", r.Partition, r.Offset, err)
		}
		f.mu.Unlock()
		return
	}
	if st.Terminal {
		k := MerchantOrder{st.OrderID, st.Merchant}
		if f.terminals[k] == nil {
			f.terminals[k] = map[string]Terminal{}
		}
		if _, ok := f.terminals[k][st.EventID]; !ok {
			f.lastTerm[st.OrderID] = time.Now()
			f.terminals[k][st.EventID] = Terminal{EventID: st.EventID, Attempt: st.Attempt, State: st.State,
				Action: st.Action, Partition: r.Partition, Offset: r.Offset}
		}
	}
	f.mu.Unlock()
	f.Tally.Observe(st)
}

// CatchUp waits until the follower has read topic up to its current end offsets.
func (f *Follower) CatchUp(ctx context.Context, adm *kadm.Client, topic string) error {
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			behind := 0
			f.mu.Lock()
			ends.Each(func(o kadm.ListedOffset) {
				if o.Offset > f.next[o.Partition] {
					behind++
				}
			})
			f.mu.Unlock()
			if behind == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // polling the end offsets
		}
	}
}

// Terminals returns the distinct terminal events of every merchant order, each list in the
// order they were read (by offset).
func (f *Follower) Terminals() map[MerchantOrder][]Terminal {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[MerchantOrder][]Terminal, len(f.terminals))
	for k, evs := range f.terminals {
		list := make([]Terminal, 0, len(evs))
		for _, e := range evs {
			list = append(list, e)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].Partition != list[j].Partition {
				return list[i].Partition < list[j].Partition
			}
			return list[i].Offset < list[j].Offset
		})
		out[k] = list
	}
	return out
}

// LastTerminal is when the latest distinct terminal event of an order was read.
func (f *Follower) LastTerminal(orderID string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.lastTerm[orderID]
	return t, ok
}

// Read returns how many records were read and how many of them did not decode, with the
// first decode error.
func (f *Follower) Read() (records, undecodable int, first error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.records, f.decodeErrs, f.firstErr
}
