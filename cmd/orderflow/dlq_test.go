package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alexflint/go-arg"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

func TestDLQArgs(t *testing.T) {
	var a args
	p, err := arg.NewParser(arg.Config{}, &a)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Parse([]string{"dlq", "replay", "--brokers", "k1:9092", "--registry", "http://reg", "--redis", "redis://r/0",
		"--id", "abc", "--id", "def", "--patch", "payment_ref=tok_visa", "--patch", "city=Oakland", "--dry-run", "--action", "new-payment-method"})
	if err != nil {
		t.Fatal(err)
	}
	r := a.Dlq.Replay
	if a.Dlq == nil || r == nil || a.Dlq.Brokers[0] != "k1:9092" || a.Dlq.Prefix != "orders." || a.Dlq.RedisPrefix != "" ||
		len(r.IDs) != 2 || len(r.Patch) != 2 || !r.DryRun || r.Rate != 5 || r.MaxReplays != 3 || r.Actions[0] != "new-payment-method" {
		t.Fatalf("parsed %+v / %+v", a.Dlq, r)
	}
}

// TestDLQCommands runs list, show and replay against the embedded Kafka, registry and Redis.
func TestDLQCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env, err := embedded.Start(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	topo := topology.Topology{Prefix: "cli.", Partitions: 2}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(env.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	err = topo.Ensure(ctx, kadm.NewClient(admCl))
	admCl.Close()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := sr.NewClient(sr.URLs(env.RegistryURL))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := producer.New(ctx, producer.Config{Brokers: env.Brokers, Registry: reg, Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	// A declined order: its attempt is terminal in the store and its dead letter is on the topic.
	no := false
	req := schemas.OrderRequested{OrderID: "cli-1", Attempt: 1, Provider: "rye", PaymentRef: "tok_declined", Currency: "USD",
		Buyer: schemas.Buyer{FirstName: "Ada", LastName: "Lovelace", Address1: "1 Market St", City: "San Francisco", CountryCode: "US"},
		Items: []schemas.Item{{Merchant: "amazon", ProductID: "B01", Quantity: 1, PriceCents: 1999}}, RequestedAt: time.Now().UTC()}
	dl := schemas.DeadLetter{DeadLetterID: "0123456789abcdef0123456789abcdef", OrderID: "cli-1", Attempt: 1, Provider: "rye",
		Reason: "submission failed: PAYMENT_FAILED", Action: "new-payment-method", Rule: "not-retryable-dead-letter", Code: "PAYMENT_FAILED",
		Retryable: &no, CartID: "cart-1", Request: &req, At: time.Now().UTC()}
	if err := prod.Send(ctx, producer.Message{Topic: topo.DLQ(), Key: dl.OrderID, Value: dl}, producer.Message{Topic: topo.DLQ(), Key: dl.OrderID, Value: dl}); err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(env.RedisURL)
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	// The deployment's namespace, as orderflow run derives it from the topic prefix: the tool,
	// given only --prefix, must read and allocate in the same one.
	store, _ := idempotency.New(rdb, idempotency.Config{Prefix: service.RedisPrefix(topo.Prefix)})
	rec, err := store.Acquire(ctx, "cli-1", 1, "fp", "test")
	if err == nil {
		_, err = store.Transition(ctx, rec, idempotency.StateTerminal, idempotency.Change{Outcome: "failed"}, idempotency.StateReserved)
	}
	if err != nil {
		t.Fatal(err)
	}

	run := func(t *testing.T, sub ...string) (string, error) {
		t.Helper()
		var a args
		p, err := arg.NewParser(arg.Config{}, &a)
		if err != nil {
			t.Fatal(err)
		}
		argv := append([]string{"dlq"}, sub...)
		argv = append(argv, "--brokers", strings.Join(env.Brokers, ","), "--registry", env.RegistryURL, "--redis", env.RedisURL,
			"--prefix", topo.Prefix)
		if err := p.Parse(argv); err != nil {
			t.Fatalf("parsing %v: %v", argv, err)
		}
		var out, errOut bytes.Buffer
		a.Dlq.out, a.Dlq.errOut = &out, &errOut
		err = a.Dlq.run(ctx, slog.New(slog.DiscardHandler))
		return out.String() + errOut.String(), err
	}

	out, err := run(t, "list", "--action", "new-payment-method")
	if err != nil || !strings.Contains(out, "cli-1") || !strings.Contains(out, "0123456789ab") || !strings.Contains(out, "1 of 1 dead letters") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if !strings.Contains(out, "REPLAYED") || replayedColumn(t, out) != "-" {
		t.Fatalf("list before any replay: want REPLAYED -\n%s", out)
	}
	out, err = run(t, "list", "--json", "--retryable", "true")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list --retryable true: %v\n%s", err, out)
	}
	out, err = run(t, "show", "0123")
	if err != nil || !strings.Contains(out, "1 Market St") || !strings.Contains(out, "tok_…") || !strings.Contains(out, "will-submit") || !strings.Contains(out, "2 copies") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	for _, o := range []string{out} {
		if strings.Contains(o, "tok_declined") {
			t.Fatalf("show printed the payment token:\n%s", o)
		}
	}
	if _, err := run(t, "replay"); err == nil || !strings.Contains(err.Error(), "--all") {
		t.Fatalf("replay without a filter: %v", err)
	}
	out, err = run(t, "replay", "--order", "cli-1", "--dry-run")
	if err != nil || !strings.Contains(out, "will-submit") || !strings.Contains(out, "dry-run 1") {
		t.Fatalf("replay --dry-run: %v\n%s", err, out)
	}
	out, err = run(t, "replay", "--id", "0123", "--patch", "payment_ref=tok_visa", "--replay-id", "r-cli", "--no-progress")
	if err != nil || !strings.Contains(out, "submitted 1") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if _, err := run(t, "replay", "--id", "0123", "--patch", "bogus=1"); err == nil {
		t.Fatal("an unknown patch field was accepted")
	}

	// list shows what became of the replay: the audit record on the replays topic.
	out, err = run(t, "list")
	if err != nil || replayedColumn(t, out) != "submitted att 2" {
		t.Fatalf("list after the replay: %v\n%s", err, out)
	}
	out, err = run(t, "list", "--json")
	var views []struct {
		Replayed *struct {
			ReplayID string `json:"replay_id"`
			Result   string `json:"result"`
			Label    string `json:"label"`
			Attempt  int    `json:"attempt"`
		} `json:"replayed"`
	}
	if err == nil {
		err = json.Unmarshal([]byte(out), &views)
	}
	if err != nil || len(views) != 1 || views[0].Replayed == nil || views[0].Replayed.ReplayID != "r-cli" ||
		views[0].Replayed.Result != "submitted" || views[0].Replayed.Label != "will-submit" || views[0].Replayed.Attempt != 2 {
		t.Fatalf("list --json after the replay: %v\n%s", err, out)
	}

	// Exit codes of the whole command line: a replay that refuses a dead letter exits 1.
	defaultLog := slog.Default()
	t.Cleanup(func() { slog.SetDefault(defaultLog) })
	code := func(sub ...string) (int, string) {
		argv := append([]string{"dlq"}, sub...)
		argv = append(argv, "--brokers", strings.Join(env.Brokers, ","), "--registry", env.RegistryURL, "--redis", env.RedisURL,
			"--prefix", topo.Prefix, "--no-progress")
		if sub[0] != "replay" {
			argv = argv[:len(argv)-1]
		}
		var errOut bytes.Buffer
		return orderflow(ctx, argv, io.Discard, &errOut), errOut.String()
	}
	for _, tc := range []struct {
		argv []string
		want int
	}{
		{[]string{"list"}, 0},
		{[]string{"show", "0123"}, 0},
		{[]string{"show", "no-such-order"}, 1},
		{[]string{"list", "--retryable", "maybe"}, 2},
		{[]string{"replay", "--order", "cli-1", "--dry-run"}, 0},
		// Attempt 2 is allocated and not yet picked up: outcome unknown, refused without --force.
		{[]string{"replay", "--order", "cli-1", "--replay-id", "r-refused"}, 1},
		{[]string{"replay"}, 2},
	} {
		if got, stderr := code(tc.argv...); got != tc.want {
			t.Errorf("orderflow dlq %s: exit code %d, want %d\n%s", strings.Join(tc.argv, " "), got, tc.want, stderr)
		}
	}
	out, err = run(t, "list")
	if err != nil || !strings.HasPrefix(replayedColumn(t, out), "refused (") || !strings.Contains(out, "[2 runs]") {
		t.Fatalf("list after a refused replay: %v\n%s", err, out)
	}
	a, err := store.Allocations(ctx, "cli-1")
	if err != nil || a.ByReason[fmt.Sprintf("replay/r-cli/%s", dl.DeadLetterID)] != 2 {
		t.Fatalf("allocations after the replay: %+v, %v", a, err)
	}
}

// replayedColumn is the REPLAYED cell of the only row of a dlq list table.
func replayedColumn(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(out, "\n")
	header := lines[0]
	start, end := strings.Index(header, "REPLAYED"), strings.Index(header, "REASON")
	if start < 0 || end < start || len(lines) < 2 || len(lines[1]) < end {
		t.Fatalf("no REPLAYED column:\n%s", out)
	}
	return strings.TrimSpace(lines[1][start:end])
}
