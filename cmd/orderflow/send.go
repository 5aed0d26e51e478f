package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

type sendCmd struct {
	Brokers  []string `arg:"--brokers,env:ORDERFLOW_BROKERS,required" help:"Kafka bootstrap brokers"`
	Registry string   `arg:"--registry,env:ORDERFLOW_REGISTRY,required" help:"schema registry URL"`
	Prefix   string   `arg:"--prefix,env:ORDERFLOW_TOPIC_PREFIX" default:"orders." help:"topic prefix"`
	File     string   `arg:"positional,required" help:"JSON file with the OrderRequested fields (Go field names), - for stdin"`
}

func (c *sendCmd) run(ctx context.Context) error {
	f := os.Stdin
	if c.File != "-" {
		var err error
		if f, err = os.Open(c.File); err != nil {
			return err
		}
		defer f.Close()
	}
	var o schemas.OrderRequested
	if err := json.NewDecoder(f).Decode(&o); err != nil {
		return fmt.Errorf("reading the order: %w", err)
	}
	reg, err := sr.NewClient(sr.URLs(c.Registry))
	if err != nil {
		return err
	}
	p, err := producer.New(ctx, producer.Config{Brokers: c.Brokers, Registry: reg, Topology: topology.Topology{Prefix: c.Prefix}})
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.RequestOrder(ctx, o); err != nil {
		return err
	}
	fmt.Printf("sent order %s attempt %d\n", o.OrderID, max(o.Attempt, 1))
	return nil
}
