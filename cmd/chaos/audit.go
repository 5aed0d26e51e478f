package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/schemas"
)

// termEvent is one terminal status event, for the duplicate-terminal audit.
type termEvent struct {
	EventID   string
	Attempt   int
	State     string
	Action    string
	Partition int32
	Offset    int64
}

func (e termEvent) String() string {
	s := fmt.Sprintf("attempt %d %s", e.Attempt, e.State)
	if e.Action != "" {
		s += ":" + e.Action
	}
	return fmt.Sprintf("%s (event %s, p%d@%d)", s, short(e.EventID), e.Partition, e.Offset)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// follower reads the status topic from the start into a demo.Tally, and keeps every distinct
// terminal event per merchant order.
type follower struct {
	codec interface {
		DecodeOrderStatus(context.Context, []byte) (schemas.OrderStatus, error)
	}
	tally *demo.Tally

	mu         sync.Mutex
	terminals  map[[2]string]map[string]termEvent // (order, merchant) -> event id -> event
	lastTerm   map[string]time.Time               // order -> when its latest terminal event was read
	next       map[int32]int64
	records    int
	decodeErrs int
}

func newFollower(codec interface {
	DecodeOrderStatus(context.Context, []byte) (schemas.OrderStatus, error)
}) *follower {
	return &follower{codec: codec, tally: demo.NewTally(), terminals: map[[2]string]map[string]termEvent{}, lastTerm: map[string]time.Time{}, next: map[int32]int64{}}
}

func (f *follower) run(ctx context.Context, brokers []string, opts []kgo.Opt, topic string) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			st, err := f.codec.DecodeOrderStatus(ctx, r.Value)
			f.mu.Lock()
			f.records++
			f.next[r.Partition] = r.Offset + 1
			if err != nil {
				f.decodeErrs++
				f.mu.Unlock()
				return
			}
			if st.Terminal {
				k := [2]string{st.OrderID, st.Merchant}
				if f.terminals[k] == nil {
					f.terminals[k] = map[string]termEvent{}
				}
				if _, ok := f.terminals[k][st.EventID]; !ok {
					f.lastTerm[st.OrderID] = time.Now()
					f.terminals[k][st.EventID] = termEvent{EventID: st.EventID, Attempt: st.Attempt, State: st.State,
						Action: st.Action, Partition: r.Partition, Offset: r.Offset}
				}
			}
			f.mu.Unlock()
			f.tally.Observe(st)
		})
	}
	return nil
}

// catchUp waits until the follower has read the topic up to its current end offsets.
func (f *follower) catchUp(ctx context.Context, adm *kadm.Client, topic string) error {
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			behind := 0
			ends.Each(func(o kadm.ListedOffset) {
				f.mu.Lock()
				if o.Offset > f.next[o.Partition] {
					behind++
				}
				f.mu.Unlock()
			})
			if behind == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readAll reads a topic from the start to its current end offsets.
func readAll(ctx context.Context, adm *kadm.Client, brokers []string, opts []kgo.Opt, topic string) ([]*kgo.Record, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("reading %s: %w (%d partitions not read to the end)", topic, ctx.Err(), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				out = append(out, r)
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// auditor collects violations (and tolerated differences) by category, with evidence.
type auditor struct {
	cats     []string
	viol     map[string][]string
	noteCats []string
	notes    map[string][]string
	interest map[string]bool // order ids worth log excerpts
}

// note records a tolerated difference: reported, not a violation.
func (a *auditor) note(cat, orderID, format string, args ...any) {
	if a.notes == nil {
		a.notes = map[string][]string{}
	}
	if a.interest == nil {
		a.interest = map[string]bool{}
	}
	if _, ok := a.notes[cat]; !ok {
		a.noteCats = append(a.noteCats, cat)
	}
	a.notes[cat] = append(a.notes[cat], fmt.Sprintf(format, args...))
	if orderID != "" {
		a.interest[orderID] = true
	}
}

func escalation(outcome string) bool {
	for o := range strings.SplitSeq(outcome, ",") {
		if !strings.HasPrefix(o, "dead_lettered:") && !strings.HasPrefix(o, "needs_attention:") {
			return false
		}
	}
	return true
}

func hasState(events []string, state string) bool {
	for _, e := range events {
		if strings.HasSuffix(e, "/"+state) {
			return true
		}
	}
	return false
}

func (a *auditor) add(cat, orderID, format string, args ...any) {
	if a.viol == nil {
		a.viol = map[string][]string{}
	}
	if a.interest == nil {
		a.interest = map[string]bool{}
	}
	if _, ok := a.viol[cat]; !ok {
		a.cats = append(a.cats, cat)
	}
	a.viol[cat] = append(a.viol[cat], fmt.Sprintf(format, args...))
	if orderID != "" {
		a.interest[orderID] = true
	}
}

func (a *auditor) violations() int {
	n := 0
	for _, v := range a.viol {
		n += len(v)
	}
	return n
}

// audit runs the four audits and prints the report.
func (r *runner) audit(ctx context.Context, adm *kadm.Client, brokers []string) *auditor {
	a := &auditor{}
	t := r.follow.tally
	o := r.o
	r.wantsMu.Lock()
	wants := make(map[string]demo.Scenario, len(r.wants))
	for k, v := range r.wants {
		wants[k] = v
	}
	r.wantsMu.Unlock()
	ids := make([]string, 0, len(wants))
	for id := range wants {
		ids = append(ids, id)
	}
	sort.Strings(ids)

	// 3. the ledger: no order attempt with more than one submitted cart / consumed checkout.
	entries, lerr := fetchLedger(ctx, r.sbURL)
	if lerr != nil {
		a.add("audit could not run", "", "ledger: %v", lerr)
	}
	byRef := map[string][]ledger.Entry{}
	noRef := 0
	for _, e := range entries {
		if e.OrderRef == "" {
			noRef++
			continue
		}
		byRef[e.OrderRef] = append(byRef[e.OrderRef], e)
	}
	double := 0
	refs := make([]string, 0, len(byRef))
	for ref := range byRef {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		es := byRef[ref]
		if len(es) < 2 {
			continue
		}
		double++
		var s []string
		for _, e := range es {
			s = append(s, fmt.Sprintf("%s cart %s charged=%v refunded=%v at %s", e.Provider, e.CartID, e.Charged, e.Refunded, e.At.Format("15:04:05.000")))
		}
		orderID, _, _ := strings.Cut(ref, "/")
		a.add("order attempt submitted twice (ledger)", orderID, "%s: %d entries: %s", ref, len(es), strings.Join(s, "; "))
	}

	// 1. every order finished with its scenario's outcome. Rule: the outcome must equal the
	// scenario's Want, except (unless -strict) a *degraded* outcome, reported but tolerated:
	// the order ended in a human escalation (every merchant dead_lettered:* or
	// needs_attention:*), its status history shows an outcome_unknown (a submit answer lost to
	// an injected 503/504 or to a kill), and either its Want is not "placed" (it was never going
	// to be placed) or it ended needs_attention with nothing charged in the ledger (the
	// tracker's bounded never-started resubmits ran out, e.g. three 503s in a row). Nothing was
	// placed or charged behind anyone's back and a person gets the order. Every other
	// difference is a violation: an order placed that must not be, a Want "placed" order
	// dead-lettered or escalated without an unknown outcome, a second terminal, unfinished.
	charged := map[string]bool{}
	for ref, es := range byRef {
		for _, e := range es {
			if e.Charged && !e.Refunded {
				orderID, _, _ := strings.Cut(ref, "/")
				charged[orderID] = true
			}
		}
	}
	byScenario := map[string]map[string]int{}
	degraded := 0
	for _, id := range ids {
		sc := wants[id]
		got := t.Outcome(id)
		if byScenario[sc.Name] == nil {
			byScenario[sc.Name] = map[string]int{}
		}
		events := t.Events(id)
		switch {
		case got == "":
			byScenario[sc.Name]["unfinished"]++
			a.add("unfinished order", id, "%s (%s): events %v", id, sc.Name, events)
		case got != sc.Want && strings.Contains(got, "|"):
			byScenario[sc.Name][got]++
			a.add("second different terminal status", id, "%s (%s): %s, want %s; events %v", id, sc.Name, got, sc.Want, events)
		case got != sc.Want && !o.strict && escalation(got) && hasState(events, "outcome_unknown") &&
			(sc.Want != "placed" || (strings.HasPrefix(got, "needs_attention:") && !charged[id])):
			byScenario[sc.Name][got+" (degraded)"]++
			degraded++
			a.note("degraded outcome after an injected fault (safe escalation)", id, "%s (%s): %s, want %s; events %v", id, sc.Name, got, sc.Want, events)
		case got != sc.Want:
			byScenario[sc.Name][got]++
			a.add("unexpected outcome", id, "%s (%s): %s, want %s; events %v", id, sc.Name, got, sc.Want, events)
		default:
			byScenario[sc.Name][got]++
		}
	}

	// Every attempt the tracker worked on (resubmitted, placement_started, action_required, placed) must have
	// had its submit announced (submitted or outcome_unknown): the worker records, then emits,
	// and a redelivery must re-emit what it recorded.
	gaps := 0
	for _, id := range ids {
		announced, tracked := map[string]bool{}, map[string]string{}
		for _, e := range t.Events(id) {
			parts := strings.SplitN(e, "/", 3)
			if len(parts) != 3 {
				continue
			}
			switch parts[2] {
			case "submitted", "outcome_unknown":
				announced[parts[0]] = true
			case "resubmitted", "placement_started", "action_required", "placed":
				tracked[parts[0]] = e
			}
		}
		for att, e := range tracked {
			if !announced[att] {
				gaps++
				a.add("tracked attempt without a submitted/outcome_unknown status event (lost status event)", id,
					"%s attempt %s: %s seen, no submitted or outcome_unknown; events %v", id, att, e, t.Events(id))
			}
		}
	}

	// 2. exactly one terminal event per merchant order (distinct event ids).
	r.follow.mu.Lock()
	terminalEvents, dupTerminal := 0, 0
	hasTerminal := map[[2]string]termEvent{}
	for k, evs := range r.follow.terminals {
		terminalEvents += len(evs)
		var list []termEvent
		for _, e := range evs {
			list = append(list, e)
		}
		hasTerminal[k] = list[0]
		if len(evs) > 1 {
			dupTerminal++
			sort.Slice(list, func(i, j int) bool { return list[i].Offset < list[j].Offset })
			var s []string
			for _, e := range list {
				s = append(s, e.String())
			}
			a.add("merchant order with more than one terminal event", k[0], "%s merchant %q: %s", k[0], k[1], strings.Join(s, "; "))
		}
	}
	statusRecords, decodeErrs := r.follow.records, r.follow.decodeErrs
	r.follow.mu.Unlock()

	// 4. dead letters: action and history, and a dead letter behind every dead_lettered status.
	dlqRecs, derr := readAll(ctx, adm, brokers, r.o.kafkaOpts, r.topo.DLQ())
	if derr != nil {
		a.add("audit could not run", "", "dead letters: %v", derr)
	}
	dls, raw, dlDecodeErrs := 0, 0, 0
	dlByOrderAction := map[[2]string]bool{}
	dlByKey := map[string][]string{}
	for _, rec := range dlqRecs {
		dl, err := r.prod.Codec().DecodeDeadLetter(ctx, rec.Value)
		if err != nil {
			dlDecodeErrs++
			a.add("undecodable dead letter", "", "p%d@%d: %v", rec.Partition, rec.Offset, err)
			continue
		}
		dls++
		if dl.Rule == "unprocessable-record" {
			raw++
			a.add("unprocessable record dead-lettered (orders sent by the driver are all valid)", dl.OrderID,
				"%s p%d@%d order %q: %s", dl.SourceTopic, dl.SourcePartition, dl.SourceOffset, dl.OrderID, dl.Reason)
			continue
		}
		if dl.Action == "" || len(dl.Attempts) == 0 {
			a.add("dead letter without action or history", dl.OrderID, "%s attempt %d merchant %q: action %q, %d attempts, rule %q, reason %q",
				dl.OrderID, dl.Attempt, dl.Merchant, dl.Action, len(dl.Attempts), dl.Rule, dl.Reason)
		}
		dlByOrderAction[[2]string{dl.OrderID, dl.Action}] = true
		key := fmt.Sprintf("%s/%d/%s", dl.OrderID, dl.Attempt, dl.Merchant)
		dlByKey[key] = append(dlByKey[key], dl.DeadLetterID)
	}
	dupDL := 0
	for key, ids := range dlByKey {
		if len(slices.Compact(slices.Sorted(slices.Values(ids)))) > 1 {
			dupDL++
			orderID, _, _ := strings.Cut(key, "/")
			a.add("more than one dead letter for one merchant order attempt", orderID, "%s: %v", key, ids)
		}
	}
	for k, e := range hasTerminal {
		if e.State == "dead_lettered" && !dlByOrderAction[[2]string{k[0], e.Action}] {
			a.add("dead_lettered status without its dead letter", k[0], "%s merchant %q: %s", k[0], k[1], e)
		}
	}

	// Charged and not refunded, yet no merchant of the order placed: the customer paid for nothing.
	// Except a 3-D Secure challenge the customer never completed (complete-payment-challenge):
	// the sandbox records the charge at submission, but it waits for the customer's challenge;
	// the dead letter asks for it, and a replay asks the provider first.
	chargedNotPlaced := 0
	for _, ref := range refs {
		orderID, _, _ := strings.Cut(ref, "/")
		if _, ours := wants[orderID]; !ours {
			continue
		}
		for _, e := range byRef[ref] {
			if e.Charged && !e.Refunded {
				if out := t.Outcome(orderID); out != "" && out != "placed" && !strings.HasPrefix(out, "needs_attention") && !strings.Contains(out, "placed") &&
					out != "dead_lettered:complete-payment-challenge" {
					chargedNotPlaced++
					a.add("charged, not refunded, nothing placed", orderID, "%s cart %s: order outcome %s", ref, e.CartID, out)
				}
			}
		}
	}

	// Report.
	counts := map[string]int{}
	for _, id := range ids {
		if got := t.Outcome(id); got != "" {
			counts[got]++
		}
	}
	fmt.Printf("\n==== chaos audit (run %s, %.0fs) ====\n", r.runID, time.Since(r.start).Seconds())
	fmt.Printf("orders sent            %d of %d\n", r.sent.Load(), o.orders)
	fmt.Printf("orders finished        %d\n", t.Finished())
	for _, k := range sortedKeys(counts) {
		fmt.Printf("  %-40s %d\n", k, counts[k])
	}
	r.printLatency(ids, wants)
	fmt.Printf("role kill -9s          %d (asked %d)\n", r.kills.Load(), o.kills)
	fmt.Printf("worker pauses          %d (asked %d; SIGSTOP for twice the %s lease, then SIGCONT)\n", r.paused.Load(), o.pauses, roleLease)
	fmt.Printf("duplicate requests     %d (the same request under another key, so another partition)\n", r.dups.Load())
	fmt.Printf("broker kill -9+start   %d\n", r.kafkaKills.Load())
	fmt.Printf("redis restarts         %d (clean restart: a kill -9 could lose 1 s of AOF writes)\n", r.redisRestar.Load())
	exits := r.sup.selfExits()
	total := 0
	for _, e := range exits {
		total += e.n
	}
	fmt.Printf("role self-exits        %d (processes that exited without being killed; restarted with backoff)\n", total)
	for _, e := range exits {
		fmt.Printf("  %s: %d, e.g. %s\n", e.name, e.n, e.example)
	}
	fmt.Printf("status events read     %d (%d undecodable), terminal events %d, merchant orders with >1 terminal %d, tracked attempts never announced %d\n",
		statusRecords, decodeErrs, terminalEvents, dupTerminal, gaps)
	fmt.Printf("ledger entries         %d (%d without order ref), order attempts submitted twice %d, charged-but-nothing-placed %d\n",
		len(entries), noRef, double, chargedNotPlaced)
	fmt.Printf("dead letters           %d (%d unprocessable records, %d undecodable), duplicate dead letters %d\n", dls, raw, dlDecodeErrs, dupDL)
	fmt.Println("outcomes by scenario:")
	names := sortedKeys(byScenario)
	for _, n := range names {
		var parts []string
		for _, k := range sortedKeys(byScenario[n]) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, byScenario[n][k]))
		}
		fmt.Printf("  %-28s %s\n", n, strings.Join(parts, " "))
	}
	fmt.Printf("degraded outcomes      %d (tolerated: see the rule in audit.go; -strict makes them violations)\n", degraded)
	for _, c := range a.noteCats {
		for i, line := range a.notes[c] {
			if i == 10 {
				fmt.Printf("    ... %d more\n", len(a.notes[c])-10)
				break
			}
			fmt.Printf("    %s\n", line)
		}
	}
	fmt.Printf("VIOLATIONS             %d\n", a.violations())
	for _, c := range a.cats {
		v := a.viol[c]
		fmt.Printf("  %s: %d\n", c, len(v))
		for i, line := range v {
			if i == 15 {
				fmt.Printf("    ... %d more (see %s)\n", len(v)-15, filepath.Join(r.dir, "violations.txt"))
				break
			}
			fmt.Printf("    %s\n", line)
		}
	}
	if a.violations() > 0 || len(a.notes) > 0 {
		r.keepLogs = true
		r.writeEvidence(a)
	}
	return a
}

// writeEvidence writes every violation and the role log lines of the orders involved.
func (r *runner) writeEvidence(a *auditor) {
	f, err := os.Create(filepath.Join(r.dir, "violations.txt"))
	if err != nil {
		return
	}
	defer f.Close()
	for _, c := range a.cats {
		fmt.Fprintf(f, "== %s (%d)\n", c, len(a.viol[c]))
		for _, line := range a.viol[c] {
			fmt.Fprintln(f, line)
		}
	}
	for _, c := range a.noteCats {
		fmt.Fprintf(f, "== tolerated: %s (%d)\n", c, len(a.notes[c]))
		for _, line := range a.notes[c] {
			fmt.Fprintln(f, line)
		}
	}
	fmt.Fprintln(f, "\n== chaos events")
	r.chaosMu.Lock()
	for _, l := range r.chaosLog {
		if strings.Contains(l, "chaos:") {
			fmt.Fprintln(f, l)
		}
	}
	r.chaosMu.Unlock()
	if r.access != nil {
		r.access.Flush()
	}
	fmt.Fprintln(f, "\n== role and sandbox-access log lines of the orders involved")
	logs, _ := filepath.Glob(filepath.Join(r.dir, "*.log"))
	for _, p := range logs {
		lf, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(lf)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, r.runID+"-"); i >= 0 {
				id := line[i:]
				if j := strings.IndexAny(id, " /\""); j >= 0 {
					id = id[:j]
				}
				if a.interest[id] {
					fmt.Fprintf(f, "%s: %s\n", filepath.Base(p), line)
				}
			}
		}
		lf.Close()
	}
	fmt.Println("evidence (violations, chaos events, role log lines of the orders involved):", f.Name())
}

// printLatency prints how long orders took from being sent to their last terminal event.
func (r *runner) printLatency(ids []string, wants map[string]demo.Scenario) {
	type lat struct {
		id string
		d  time.Duration
	}
	var ls []lat
	r.wantsMu.Lock()
	r.follow.mu.Lock()
	for _, id := range ids {
		if end, ok := r.follow.lastTerm[id]; ok {
			ls = append(ls, lat{id, end.Sub(r.sentAt[id])})
		}
	}
	r.follow.mu.Unlock()
	r.wantsMu.Unlock()
	if len(ls) == 0 {
		return
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].d < ls[j].d })
	q := func(f float64) time.Duration {
		return ls[min(len(ls)-1, int(f*float64(len(ls))))].d.Round(100 * time.Millisecond)
	}
	fmt.Printf("send-to-terminal       p50 %s, p90 %s, p99 %s, max %s (", q(0.5), q(0.9), q(0.99), ls[len(ls)-1].d.Round(100*time.Millisecond))
	for i := len(ls) - 1; i >= max(0, len(ls)-3); i-- {
		fmt.Printf("%s %s %s; ", ls[i].id, wants[ls[i].id].Name, ls[i].d.Round(100*time.Millisecond))
	}
	fmt.Println("slowest)")
}

func fetchLedger(ctx context.Context, base string) ([]ledger.Entry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ledger", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /ledger: %s", resp.Status)
	}
	var body struct {
		Entries []ledger.Entry `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Entries, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
