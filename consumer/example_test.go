package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/consumer"
)

// Records of one key reach the handler in order; the dead-letter func receives records whose
// handler returned a Permanent error.
func Example() {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(fake.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer prod.Close()
	for _, v := range []string{"placed", "paid", "\xff", "shipped"} {
		r := &kgo.Record{Key: []byte("order-1"), Value: []byte(v)}
		if err := prod.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			log.Fatal(err)
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	var seen atomic.Int32
	c, err := consumer.New(consumer.Config{
		Brokers: fake.ListenAddrs(), Group: "example", Topics: []string{"orders"},
		DeadLetter: func(_ context.Context, r *kgo.Record, reason error) error {
			fmt.Printf("dead letter %q: %v\n", r.Value, reason)
			return nil
		},
	}, consumer.HandlerFunc(func(_ context.Context, r *kgo.Record) error {
		defer func() {
			if seen.Add(1) == 4 {
				stop()
			}
		}()
		if r.Value[0] == 0xff {
			return consumer.Permanent(fmt.Errorf("decoding order event: unexpected byte %#x", r.Value[0]))
		}
		fmt.Println(string(r.Key), string(r.Value))
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// order-1 placed
	// order-1 paid
	// dead letter "\xff": decoding order event: unexpected byte 0xff
	// order-1 shipped
}

// Recover turns a handler's panic into a Permanent error: the engine dead-letters the record
// with the panic value as its reason and moves on; the stack goes to the logger.
func ExampleRecover() {
	h := consumer.Chain(consumer.HandlerFunc(func(_ context.Context, r *kgo.Record) error {
		var m map[string]int
		m[string(r.Key)]++ // a defect: assignment to entry in nil map
		return nil
	}), consumer.Recover(nil))
	err := h.Handle(context.Background(), &kgo.Record{Key: []byte("order-1")})
	fmt.Println(consumer.IsPermanent(err), errors.Is(err, consumer.ErrPanic))
	fmt.Println(err)
	// Output:
	// true true
	// handler panicked: assignment to entry in nil map
}
