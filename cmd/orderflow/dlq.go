package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/term"

	"github.com/orderflow/orderflow/dlq"
	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// dlqCmd is `orderflow dlq list | show | replay`: the on-call engineer's dead-letter tool.
type dlqCmd struct {
	List   *dlqListCmd   `arg:"subcommand:list" help:"list dead letters (table or --json)"`
	Show   *dlqShowCmd   `arg:"subcommand:show" help:"show one dead letter in full, with what a replay would do"`
	Replay *dlqReplayCmd `arg:"subcommand:replay" help:"replay dead letters as new attempts (--dry-run labels them)"`

	Brokers     []string `arg:"--brokers,env:ORDERFLOW_BROKERS,required" help:"Kafka bootstrap brokers"`
	Registry    string   `arg:"--registry,env:ORDERFLOW_REGISTRY,required" help:"schema registry URL"`
	Redis       string   `arg:"--redis,env:ORDERFLOW_REDIS" help:"redis:// or rediss:// URL of the idempotency store (show and replay)"`
	RedisPrefix string   `arg:"--redis-prefix,env:ORDERFLOW_REDIS_PREFIX" help:"Redis key namespace of the deployment (default: derived from --prefix, as orderflow run does)"`
	Prefix      string   `arg:"--prefix,env:ORDERFLOW_TOPIC_PREFIX" default:"orders." help:"topic prefix"`
	RyeURL      string   `arg:"--rye-url,env:ORDERFLOW_RYE_URL" help:"Rye API base URL, to probe carts whose outcome is unknown"`
	RyeKey      string   `arg:"--rye-key,env:ORDERFLOW_RYE_KEY" help:"Rye API key"`
	DRURL       string   `arg:"--dr-url,env:ORDERFLOW_DR_URL" help:"Digital River API base URL, to probe and to fix checkouts"`
	DRKey       string   `arg:"--dr-key,env:ORDERFLOW_DR_KEY" help:"Digital River confidential key"`
	registryFlags
	redisFlags

	// Secrets from files (resolveSecrets), and Kafka's TLS and SASL.
	RyeKeyFile string `arg:"--rye-key-file,env:ORDERFLOW_RYE_KEY_FILE" help:"file holding the Rye API key (instead of --rye-key, which shows in ps)"`
	DRKeyFile  string `arg:"--dr-key-file,env:ORDERFLOW_DR_KEY_FILE" help:"file holding the Digital River confidential key (instead of --dr-key)"`
	kafkaFlags

	out, errOut io.Writer // default os.Stdout, os.Stderr (tests capture them)
}

// dlqFilter are the selection flags of list and replay.
type dlqFilter struct {
	Since     string   `arg:"--since" help:"only dead letters at or after this time (RFC 3339) or this long ago (e.g. 24h)"`
	Until     string   `arg:"--until" help:"only dead letters before this time (RFC 3339) or this long ago"`
	IDs       []string `arg:"--id,separate" help:"dead-letter id or unique prefix (repeatable)"`
	Orders    []string `arg:"--order,separate" help:"order id (repeatable)"`
	Codes     []string `arg:"--code,separate" help:"provider error code (repeatable)"`
	Actions   []string `arg:"--action,separate" help:"action needed, e.g. new-payment-method (repeatable)"`
	Providers []string `arg:"--provider,separate" help:"rye or digitalriver (repeatable)"`
	Retryable string   `arg:"--retryable" help:"true, false or unknown"`
}

type dlqListCmd struct {
	dlqFilter
	JSON bool `arg:"--json" help:"JSON instead of a table"`
}

type dlqShowCmd struct {
	ID   string `arg:"positional,required" help:"dead-letter id (or unique prefix) or order id"`
	JSON bool   `arg:"--json" help:"JSON instead of text"`
}

type dlqReplayCmd struct {
	dlqFilter
	All        bool     `arg:"--all" help:"allow replaying without any filter"`
	DryRun     bool     `arg:"--dry-run" help:"label each dead letter (already placed, outcome unknown, will submit...) and change nothing"`
	Patch      []string `arg:"--patch,separate" help:"field=value to correct before replay, e.g. payment_ref=tok_visa, address1=..., item.0.quantity=1 (repeatable)"`
	ReplayID   string   `arg:"--replay-id" help:"name of this replay; running the same id again can not create a second cart (default: new)"`
	Rate       float64  `arg:"--rate" default:"5" help:"dead letters replayed per second"`
	MaxReplays int      `arg:"--max-replays" default:"3" help:"refuse orders already replayed this many times (loop cap)"`
	Force      bool     `arg:"--force" help:"replay past the cap, and replay outcome-unknown dead letters (only once the provider confirmed they will never place)"`
	NewCart    bool     `arg:"--new-cart" help:"Digital River fix-checkout: create a new checkout instead of fixing the refused one"`
	NoProgress bool     `arg:"--no-progress" help:"no progress bar (it is off anyway when stderr is not a terminal)"`
	Operator   string   `arg:"--operator,env:USER" help:"who replays, for the audit record"`
	JSON       bool     `arg:"--json" help:"JSON instead of a table"`
}

// errNotReplayed reports a replay run that refused or failed some of the dead letters it
// selected (exit code 1, so a script never takes a refusal for a replay).
var errNotReplayed = errors.New("some dead letters were not replayed")

func (c *dlqCmd) run(ctx context.Context, log *slog.Logger) error {
	if c.out == nil {
		c.out = os.Stdout
	}
	if c.errOut == nil {
		c.errOut = os.Stderr
	}
	kafkaOpts, err := prologue(c)
	if err != nil {
		return err
	}
	topo := topology.Topology{Prefix: c.Prefix}.WithDefaults()
	if err := topo.Validate(); err != nil {
		return configError{err}
	}
	if c.Replay != nil {
		if _, err := c.Replay.patch(); err != nil {
			return err
		}
	}
	reg, err := c.registryFlags.client(c.Registry)
	if err != nil {
		return err
	}
	codec := schemas.NewCodec(reg)
	entries, undecodable, err := dlq.Read(ctx, dlq.ReadConfig{Brokers: c.Brokers, Topic: topo.DLQ(), Codec: codec, Opts: kafkaOpts})
	if err != nil {
		return err
	}
	if undecodable > 0 {
		fmt.Fprintf(c.errOut, "dlq: %d records of %s did not decode and are not shown\n", undecodable, topo.DLQ())
	}
	if c.Replay == nil {
		// What became of earlier replays, for list and show (replay decides from the store).
		audits, bad, err := dlq.ReadAudits(ctx, dlq.ReadConfig{Brokers: c.Brokers, Topic: topo.Replays(), Codec: codec, Opts: kafkaOpts})
		if err != nil {
			return err
		}
		if bad > 0 {
			fmt.Fprintf(c.errOut, "dlq: %d records of %s did not decode; the REPLAYED column may miss them\n", bad, topo.Replays())
		}
		dlq.AttachAudits(entries, audits)
	}
	switch {
	case c.List != nil:
		sel, err := c.List.selection(entries, time.Now())
		if err != nil {
			return err
		}
		if c.List.JSON {
			return dlq.WriteJSON(c.out, sel)
		}
		if err := dlq.WriteTable(c.out, sel); err != nil {
			return err
		}
		fmt.Fprintf(c.errOut, "%d of %d dead letters\n", len(sel), len(entries))
		return nil
	case c.Show != nil:
		return c.show(ctx, log, topo, entries)
	case c.Replay != nil:
		return c.replay(ctx, log, topo, reg, entries, kafkaOpts)
	}
	return errors.New("dlq: list, show or replay")
}

func (f dlqFilter) selection(entries []dlq.Entry, now time.Time) ([]dlq.Entry, error) {
	flt := dlq.Filter{IDs: f.IDs, OrderIDs: f.Orders, Codes: f.Codes, Actions: f.Actions, Providers: f.Providers, Retryable: f.Retryable}
	var err error
	if flt.Since, err = parseWhen(f.Since, now); err != nil {
		return nil, configError{fmt.Errorf("--since: %w", err)}
	}
	if flt.Until, err = parseWhen(f.Until, now); err != nil {
		return nil, configError{fmt.Errorf("--until: %w", err)}
	}
	sel, err := dlq.Select(entries, flt)
	if err != nil {
		return nil, configError{err} // a bad --retryable or an ambiguous --id: fix the flags
	}
	return sel, nil
}

func (f dlqFilter) empty() bool {
	return f.Since == "" && f.Until == "" && len(f.IDs)+len(f.Orders)+len(f.Codes)+len(f.Actions)+len(f.Providers) == 0 && f.Retryable == ""
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}

// tool connects to Redis and the providers given by flags.
func (c *dlqCmd) tool(log *slog.Logger, topo topology.Topology, sender dlq.Sender, cfg dlq.Config) (*dlq.Tool, func(), error) {
	if c.Redis == "" {
		return nil, nil, errors.New("dlq: --redis (ORDERFLOW_REDIS) is required to look up what happened to an order")
	}
	rc, err := c.redisFlags.conn(c.Redis)
	if err != nil {
		return nil, nil, err
	}
	opt, err := service.RedisOptions(c.Redis, rc.user, rc.password, rc.tls)
	if err != nil {
		return nil, nil, configError{fmt.Errorf("--redis %s: %w", redactURL(c.Redis), err)}
	}
	rdb := redis.NewClient(opt)
	ns := c.RedisPrefix
	if ns == "" {
		ns = service.RedisPrefix(topo.Prefix) // the namespace orderflow run derives
	}
	store, err := idempotency.New(rdb, idempotency.Config{Prefix: ns})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	providers, err := realProviders(registered(), c.flags(), 0)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	cfg.Store, cfg.Topology, cfg.Providers, cfg.Sender, cfg.Logger = store, topo, providers, sender, log
	cfg.Descriptors = registered()
	t, err := dlq.New(cfg)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	return t, func() { rdb.Close() }, nil
}

func (c *dlqCmd) show(ctx context.Context, log *slog.Logger, topo topology.Topology, entries []dlq.Entry) error {
	sel, err := dlq.Select(entries, dlq.Filter{IDs: []string{c.Show.ID}})
	if err != nil {
		return err
	}
	if len(sel) == 0 {
		sel, _ = dlq.Select(entries, dlq.Filter{OrderIDs: []string{c.Show.ID}})
	}
	if len(sel) == 0 {
		return fmt.Errorf("dlq: no dead letter or order %q in %s", c.Show.ID, topo.DLQ())
	}
	var t *dlq.Tool
	if c.Redis != "" {
		var closeFn func()
		if t, closeFn, err = c.tool(log, topo, nil, dlq.Config{}); err != nil {
			return err
		}
		defer closeFn()
	} else {
		fmt.Fprintln(c.errOut, "dlq: without --redis, show can not tell what a replay would do")
	}
	var views []dlq.View
	for i, e := range sel {
		var plan *dlq.Plan
		if t != nil {
			p, err := t.Inspect(ctx, entries, e.DeadLetter, dlq.Options{})
			if err != nil {
				return err
			}
			plan = &p
		}
		if c.Show.JSON {
			v := dlq.NewView(e, true)
			if plan != nil {
				v.Replay = &dlq.PlanView{Label: plan.Label, Detail: plan.Detail, ReuseCart: plan.ReuseCart}
			}
			views = append(views, v)
			continue
		}
		if i > 0 {
			fmt.Println()
		}
		if err := dlq.WriteShow(c.out, e, plan); err != nil {
			return err
		}
	}
	if c.Show.JSON {
		return writeJSON(c.out, views)
	}
	return nil
}

func (c *dlqCmd) replay(ctx context.Context, log *slog.Logger, topo topology.Topology, reg *sr.Client, entries []dlq.Entry, kafkaOpts []kgo.Opt) error {
	rc := c.Replay
	patch, err := rc.patch()
	if err != nil {
		return err
	}
	sel, err := rc.selection(entries, time.Now())
	if err != nil {
		return err
	}
	var sender dlq.Sender
	if !rc.DryRun {
		p, err := producer.New(ctx, producer.Config{Brokers: c.Brokers, Registry: reg, Topology: topo, LookupSchemas: !c.RegisterSchemas, Opts: kafkaOpts})
		if err != nil {
			return registryError(err)
		}
		defer p.Close()
		sender = p
	}
	t, closeFn, err := c.tool(log, topo, sender, dlq.Config{MaxReplays: rc.MaxReplays, Rate: rc.Rate, Operator: rc.Operator})
	if err != nil {
		return err
	}
	defer closeFn()
	opts := dlq.Options{ReplayID: rc.ReplayID, Patch: patch, DryRun: rc.DryRun, Force: rc.Force, NewCart: rc.NewCart}
	if opts.ReplayID == "" {
		opts.ReplayID = dlq.NewReplayID(time.Now())
	}
	if f, ok := c.errOut.(*os.File); ok && !rc.NoProgress && len(sel) > 1 && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(len(sel), progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("replay "+opts.ReplayID),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
		defer bar.Finish()
		opts.Progress = func(dlq.Result) { _ = bar.Add(1) }
	}
	results, err := t.Replay(ctx, entries, sel, opts)
	werr := writeResults(c.out, results, rc.JSON)
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	counts := map[string]int{}
	for _, r := range results {
		counts[r.Result]++
	}
	verb := "replay"
	if rc.DryRun {
		verb = "dry run"
	}
	fmt.Fprintf(c.errOut, "%s %s: %d dead letters: %s\n", verb, opts.ReplayID, len(results), summary(counts))
	if n := counts[dlq.ResultRefused] + counts[dlq.ResultFailed]; n > 0 {
		return fmt.Errorf("%w: %d refused, %d failed", errNotReplayed, counts[dlq.ResultRefused], counts[dlq.ResultFailed])
	}
	return nil
}

// validate checks dlq's flags before anything connects: Redis's security flags (which need
// --redis) and the Kafka security flags, every mistake at once.
func (c *dlqCmd) validate() error {
	var errs []string
	if c.Redis == "" && c.redisFlags.set() {
		errs = append(errs, "--redis-user/-password/-ca-file/-cert-file/-key-file need --redis")
	}
	errs = append(errs, c.kafkaFlags.validate()...)
	if len(errs) > 0 {
		return configError{errors.New(strings.Join(errs, "; "))}
	}
	return nil
}

// patch checks the replay's flags before anything is read: a replay without a filter or with a
// bad --patch is a usage error.
func (rc *dlqReplayCmd) patch() (dlq.Patch, error) {
	if rc.empty() && !rc.All {
		return dlq.Patch{}, configError{errors.New("dlq: replay needs a filter (--id, --order, --action...) or --all")}
	}
	p, err := dlq.ParsePatch(rc.Patch)
	if err != nil {
		return dlq.Patch{}, configError{err}
	}
	return p, nil
}

func writeResults(w io.Writer, results []dlq.Result, asJSON bool) error {
	if asJSON {
		return dlq.WriteResultsJSON(w, results)
	}
	return dlq.WriteResults(w, results)
}

func summary(counts map[string]int) string {
	var parts []string
	for _, k := range []string{dlq.ResultSubmitted, dlq.ResultNoop, dlq.ResultRefused, dlq.ResultFailed, dlq.ResultDryRun} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
