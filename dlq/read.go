package dlq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/schemas"
)

// Entry is one dead letter as read from the topic.
type Entry struct {
	schemas.DeadLetter
	// Partition and Offset locate the first copy read.
	Partition int32
	Offset    int64
	// Copies is how many records carried this DeadLetterID (re-emissions share it).
	Copies int
	// Replayed is what replays decided for this dead letter, from the replays topic (see
	// AttachAudits); nil = never replayed (dry runs record nothing).
	Replayed *Replayed
}

// Replayed is what became of a dead letter's replays.
type Replayed struct {
	// Last is the latest decision: its result (submitted, noop, refused, failed), label and the
	// attempt it published.
	Last schemas.ReplayAudit
	// Decisions is how many replay decisions were recorded for the dead letter.
	Decisions int
	// DeadLetteredAgain is the dead letter of the attempt Last published, if it was dead-lettered too.
	DeadLetteredAgain string
}

// AttachAudits sets the Replayed of every entry that audits (as ReadAudits returns them,
// oldest first) name.
func AttachAudits(entries []Entry, audits []schemas.ReplayAudit) {
	byID := make(map[string]*Replayed)
	for _, a := range audits {
		r := byID[a.DeadLetterID]
		if r == nil {
			r = &Replayed{}
			byID[a.DeadLetterID] = r
		}
		r.Last = a
		r.Decisions++
	}
	for i := range entries {
		r := byID[entries[i].DeadLetterID]
		if r == nil {
			continue
		}
		if r.Last.Attempt > 0 {
			for _, o := range entries {
				if o.OrderID == r.Last.OrderID && o.Attempt == r.Last.Attempt && o.DeadLetterID != r.Last.DeadLetterID {
					r.DeadLetteredAgain = o.DeadLetterID
					break
				}
			}
		}
		entries[i].Replayed = r
	}
}

// ReadConfig says where to read dead letters from.
type ReadConfig struct {
	Brokers []string // required
	Topic   string   // the dead-letter topic, required
	Codec   *schemas.Codec
	// Opts are extra franz-go client options (TLS, SASL).
	Opts []kgo.Opt
}

// Read returns every dead letter of the topic, oldest first, deduplicated by DeadLetterID, and
// how many records did not decode. It reads from the start without a consumer group and stops
// at the high watermarks of when it started.
func Read(ctx context.Context, cfg ReadConfig) (entries []Entry, undecodable int, err error) {
	byID := map[string]int{}
	err = scan(ctx, cfg, func(r *kgo.Record) {
		d, err := cfg.Codec.DecodeDeadLetter(ctx, r.Value)
		if err != nil || d.DeadLetterID == "" {
			undecodable++
			return
		}
		if i, ok := byID[d.DeadLetterID]; ok {
			entries[i].Copies++
			return
		}
		byID[d.DeadLetterID] = len(entries)
		entries = append(entries, Entry{DeadLetter: d, Partition: r.Partition, Offset: r.Offset, Copies: 1})
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortStableFunc(entries, func(a, b Entry) int { return a.At.Compare(b.At) })
	return entries, undecodable, nil
}

// ReadAudits returns every replay audit record of cfg.Topic (the replays topic), oldest first,
// deduplicated by AuditID, and how many records did not decode. It reads like Read.
func ReadAudits(ctx context.Context, cfg ReadConfig) (audits []schemas.ReplayAudit, undecodable int, err error) {
	seen := map[string]bool{}
	err = scan(ctx, cfg, func(r *kgo.Record) {
		a, err := cfg.Codec.DecodeReplayAudit(ctx, r.Value)
		if err != nil || a.DeadLetterID == "" {
			undecodable++
			return
		}
		if a.AuditID != "" && seen[a.AuditID] {
			return
		}
		seen[a.AuditID] = true
		audits = append(audits, a)
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortStableFunc(audits, func(a, b schemas.ReplayAudit) int { return a.At.Compare(b.At) })
	return audits, undecodable, nil
}

// scan calls handle with every record of cfg.Topic from the start up to the high watermarks of
// when it started, without a consumer group.
func scan(ctx context.Context, cfg ReadConfig, handle func(*kgo.Record)) error {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Codec == nil {
		return errors.New("dlq: brokers, topic and codec are required")
	}
	admCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}, cfg.Opts...)...)
	if err != nil {
		return fmt.Errorf("creating admin client: %w", err)
	}
	adm := kadm.NewClient(admCl)
	ends, err := adm.ListEndOffsets(ctx, cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListStartOffsets(ctx, cfg.Topic)
	}
	if err == nil {
		err = starts.Error()
	}
	admCl.Close()
	if err != nil {
		return fmt.Errorf("listing the offsets of %s: %w", cfg.Topic, err)
	}
	want := map[int32]int64{} // partition -> end offset still to reach
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(cfg.Topic, o.Partition); !ok || o.Offset > s.Offset {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	parts := make(map[int32]kgo.Offset, len(want))
	for p := range want {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: parts}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}, cfg.Opts...)...)
	if err != nil {
		return fmt.Errorf("creating consumer client: %w", err)
	}
	defer cl.Close()

	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", cfg.Topic, err)
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.Canceled) {
				return fmt.Errorf("reading %s partition %d: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
			handle(r)
		})
	}
	return nil
}

// Filter selects dead letters. Empty fields match everything; a list matches any of its values.
type Filter struct {
	Since, Until time.Time // At in [Since, Until)
	IDs          []string  // dead-letter ids or unique prefixes of them
	OrderIDs     []string
	Codes        []string
	Actions      []string
	Providers    []string
	// Retryable is "true", "false", "unknown" (the provider did not say) or "" (any).
	Retryable string
}

// Validate checks the Retryable value.
func (f Filter) Validate() error {
	switch f.Retryable {
	case "", "true", "false", "unknown":
		return nil
	}
	return fmt.Errorf("dlq: retryable must be true, false or unknown, not %q", f.Retryable)
}

// Empty reports whether f selects everything.
func (f Filter) Empty() bool {
	return f.Since.IsZero() && f.Until.IsZero() && len(f.IDs)+len(f.OrderIDs)+len(f.Codes)+len(f.Actions)+len(f.Providers) == 0 && f.Retryable == ""
}

// Match reports whether f selects d.
func (f Filter) Match(d schemas.DeadLetter) bool {
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	switch {
	case !f.Since.IsZero() && d.At.Before(f.Since):
		return false
	case !f.Until.IsZero() && !d.At.Before(f.Until):
		return false
	case !in(f.OrderIDs, d.OrderID), !in(f.Codes, d.Code), !in(f.Actions, d.Action), !in(f.Providers, d.Provider):
		return false
	case len(f.IDs) > 0 && !slices.ContainsFunc(f.IDs, func(p string) bool { return strings.HasPrefix(d.DeadLetterID, p) }):
		return false
	}
	switch f.Retryable {
	case "true":
		return d.Retryable != nil && *d.Retryable
	case "false":
		return d.Retryable != nil && !*d.Retryable
	case "unknown":
		return d.Retryable == nil
	}
	return true
}

// ErrAmbiguous: an id prefix selects more than one dead letter.
var ErrAmbiguous = errors.New("dlq: id prefix matches more than one dead letter")

// Select returns the entries f matches. Every prefix in f.IDs must match exactly one entry
// (ErrAmbiguous otherwise), so a short id can never replay more than was meant.
func Select(entries []Entry, f Filter) ([]Entry, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	for _, p := range f.IDs {
		n := 0
		for _, e := range entries {
			if strings.HasPrefix(e.DeadLetterID, p) {
				n++
			}
		}
		if n > 1 {
			return nil, fmt.Errorf("%w: %q (%d)", ErrAmbiguous, p, n)
		}
	}
	var out []Entry
	for _, e := range entries {
		if f.Match(e.DeadLetter) {
			out = append(out, e)
		}
	}
	return out, nil
}
