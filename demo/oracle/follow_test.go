package oracle

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/schemas"
)

// jsonStatus decodes status events written as JSON, standing in for the Avro codec.
type jsonStatus struct{}

func (jsonStatus) DecodeOrderStatus(_ context.Context, b []byte) (schemas.OrderStatus, error) {
	var s schemas.OrderStatus
	err := json.Unmarshal(b, &s)
	return s, err
}

func statusRecord(t *testing.T, s schemas.OrderStatus) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(s.OrderID), Value: b}
}

// TestFollowerAndReadTopic writes status events (a terminal one twice, a second terminal of
// another event id, an undecodable record) and checks what the follower and the bounded
// reader make of them.
func TestFollowerAndReadTopic(t *testing.T) {
	const topic = "orders.status"
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic, "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	brokers := fake.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	placed := schemas.OrderStatus{EventID: "e1", OrderID: "o1", Attempt: 1, Merchant: "amazon", State: "placed", Terminal: true}
	again := placed
	again.EventID, again.State, again.Action = "e2", "dead_lettered", "investigate"
	recs := []*kgo.Record{
		statusRecord(t, schemas.OrderStatus{EventID: "e0", OrderID: "o1", Attempt: 1, State: "submitted"}),
		statusRecord(t, placed), statusRecord(t, placed), statusRecord(t, again),
		{Key: []byte("o1"), Value: []byte("not a status")},
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	f := NewFollower(jsonStatus{})
	f.Tally.Expect(schemas.OrderRequested{OrderID: "o1", Items: []schemas.Item{{Merchant: "amazon"}}})
	fctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx, brokers, nil, topic) }()
	if err := f.CatchUp(ctx, kadm.NewClient(cl), topic); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if records, undecodable, first := f.Read(); records != 5 || undecodable != 1 || first == nil {
		t.Errorf("read %d records, %d undecodable (%v): want 5 and 1", records, undecodable, first)
	}
	terms := f.Terminals()[MerchantOrder{"o1", "amazon"}]
	if len(terms) != 2 || terms[0].EventID != "e1" || terms[1].EventID != "e2" {
		t.Errorf("terminals %v: want e1 then e2, the repeated e1 once", terms)
	}
	if fs := OneTerminal(f.Terminals()); len(fs) != 1 {
		t.Errorf("one-terminal findings %q: want o1's second terminal", checks(fs))
	}
	if got := f.Tally.Outcome("o1"); got != "placed|dead_lettered:investigate" {
		t.Errorf("tally outcome %q: want both terminals", got)
	}
	if _, ok := f.LastTerminal("o1"); !ok {
		t.Error("no time of o1's last terminal event")
	}

	all, err := ReadTopic(ctx, brokers, nil, topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(recs) {
		t.Errorf("ReadTopic: %d records, want %d", len(all), len(recs))
	}
	seen := 0
	if err := Tail(ctx, brokers, nil, topic, func(*kgo.Record) { seen++ }, func() bool { return seen >= len(recs) }); err != nil || seen != len(recs) {
		t.Errorf("Tail: %d records, %v; want %d", seen, err, len(recs))
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if err := Tail(short, brokers, nil, topic, func(*kgo.Record) {}, func() bool { return false }); err == nil {
		t.Error("Tail returned no error when its context ended before done")
	}
	empty, err := ReadTopic(ctx, brokers, nil, "orders.dlq")
	if err != nil || len(empty) != 0 {
		t.Errorf("ReadTopic of a topic without records: %d records, %v", len(empty), err)
	}
}
