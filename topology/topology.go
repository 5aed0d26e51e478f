// Package topology declares, in one place, every topic orderflow uses, the schema its values
// carry, and the consumer group of each role. WithDefaults fills what is not set, Validate
// checks at startup; Ensure creates missing topics.
package topology

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/orderflow/orderflow/schemas"
)

// Tier is a delay tier: retries wait Delay in topic Prefix+"retry."+Name before the worker sees them.
type Tier struct {
	Name  string
	Delay time.Duration
}

// Topology is the set of topics and groups.
type Topology struct {
	// Prefix is prepended to every topic and group name. Default "orders.".
	Prefix string
	// Partitions for topics Ensure creates. Default 16.
	Partitions int32
	// ReplicationFactor for topics Ensure creates; -1 uses the broker default. Default -1.
	ReplicationFactor int16
	// Tiers are the retry delay tiers, shortest first. Default 1s, 10s, 1m.
	Tiers []Tier
}

// Default returns the default topology.
func Default() Topology { return Topology{}.WithDefaults() }

// WithDefaults returns t with every field not set at its default.
func (t Topology) WithDefaults() Topology {
	if t.Prefix == "" {
		t.Prefix = "orders."
	}
	if t.Partitions <= 0 {
		t.Partitions = 16
	}
	if t.ReplicationFactor == 0 {
		t.ReplicationFactor = -1
	}
	if len(t.Tiers) == 0 {
		t.Tiers = []Tier{{"1s", time.Second}, {"10s", 10 * time.Second}, {"1m", time.Minute}}
	}
	return t
}

// Validate checks t (after WithDefaults): a prefix, partitions, a replication factor and the
// tiers. It changes nothing.
func (t Topology) Validate() error {
	switch {
	case t.Prefix == "":
		return errors.New("topology: no prefix (WithDefaults sets orders.)")
	case t.Partitions <= 0:
		return fmt.Errorf("topology: %d partitions", t.Partitions)
	case t.ReplicationFactor == 0 || t.ReplicationFactor < -1:
		return fmt.Errorf("topology: replication factor %d (-1 is the broker's default)", t.ReplicationFactor)
	case len(t.Tiers) == 0:
		return errors.New("topology: no retry tiers")
	}
	seen := map[string]bool{}
	for i, tier := range t.Tiers {
		switch {
		case tier.Name == "" || strings.ContainsAny(tier.Name, "/ \\"):
			return fmt.Errorf("topology: tier %d has an invalid name %q", i, tier.Name)
		case seen[tier.Name]:
			return fmt.Errorf("topology: tier %q declared twice", tier.Name)
		case tier.Delay <= 0:
			return fmt.Errorf("topology: tier %q has no delay", tier.Name)
		case i > 0 && tier.Delay < t.Tiers[i-1].Delay:
			return errors.New("topology: tiers must be sorted by delay")
		}
		seen[tier.Name] = true
	}
	return nil
}

// Topic names.
func (t Topology) Requests() string { return t.Prefix + "requests" }
func (t Topology) Status() string   { return t.Prefix + "status" }
func (t Topology) Failures() string { return t.Prefix + "failures" }
func (t Topology) Tracking() string { return t.Prefix + "tracking" }
func (t Topology) DLQ() string      { return t.Prefix + "dlq" }
func (t Topology) Replays() string  { return t.Prefix + "dlq.replays" }

// Retry returns the topic of delay tier i (clamped to the last tier).
func (t Topology) Retry(i int) string {
	if i >= len(t.Tiers) {
		i = len(t.Tiers) - 1
	}
	if i < 0 {
		i = 0
	}
	return t.Prefix + "retry." + t.Tiers[i].Name
}

// RetryTopics returns every delay-tier topic.
func (t Topology) RetryTopics() []string {
	out := make([]string, len(t.Tiers))
	for i := range t.Tiers {
		out[i] = t.Retry(i)
	}
	return out
}

// Group names, one per role.
func (t Topology) WorkerGroup() string     { return t.Prefix + "worker" }
func (t Topology) TrackerGroup() string    { return t.Prefix + "tracker" }
func (t Topology) ReconcilerGroup() string { return t.Prefix + "reconciler" }

// WorkerTopics are what the worker consumes: new requests and every retry tier.
func (t Topology) WorkerTopics() []string { return append([]string{t.Requests()}, t.RetryTopics()...) }

// Schemas maps every topic to the schema of its values.
func (t Topology) Schemas() map[string]schemas.Name {
	m := map[string]schemas.Name{
		t.Requests(): schemas.NameOrderRequested,
		t.Status():   schemas.NameOrderStatus,
		t.Failures(): schemas.NameOrderFailure,
		t.Tracking(): schemas.NameTracking,
		t.DLQ():      schemas.NameDeadLetter,
		t.Replays():  schemas.NameReplayAudit,
	}
	for _, r := range t.RetryTopics() {
		m[r] = schemas.NameOrderRequested
	}
	return m
}

// Ensure creates the topics that do not exist yet.
func (t Topology) Ensure(ctx context.Context, adm *kadm.Client) error {
	topics := make([]string, 0, len(t.Schemas()))
	for topic := range t.Schemas() {
		topics = append(topics, topic)
	}
	resp, err := adm.CreateTopics(ctx, t.Partitions, t.ReplicationFactor, nil, topics...)
	if err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
