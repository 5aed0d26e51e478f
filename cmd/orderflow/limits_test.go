package main

import (
	"testing"

	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/service"
)

// The request-limit flags reach processor.Settings.Limits; unset ones keep the defaults (0), and
// a negative one is a usage error.
func TestRunLimitFlags(t *testing.T) {
	c, err := parseRun(t, "--max-request-bytes", "600000", "--max-items", "20000", "--max-quantity", "5",
		"--max-line-amount", "100", "--max-order-amount", "18446744073709551615")
	if err != nil {
		t.Fatal(err)
	}
	var cfg service.Config
	c.override(&cfg)
	want := processor.Limits{MaxRequestBytes: 600000, MaxItems: 20000, MaxQuantity: 5, MaxLineCents: 100, MaxOrderCents: 1<<63 - 1}
	if cfg.Processor.Limits != want {
		t.Fatalf("limits %+v, want %+v", cfg.Processor.Limits, want)
	}
	c, err = parseRun(t)
	if err != nil {
		t.Fatal(err)
	}
	cfg = service.Config{}
	c.override(&cfg)
	if cfg.Processor.Limits != (processor.Limits{}) {
		t.Fatalf("limits without flags %+v, want zero (the defaults)", cfg.Processor.Limits)
	}
	if _, err := parseRun(t, "--max-items", "-1"); err == nil {
		t.Fatal("--max-items -1 was accepted")
	}
}
