package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orderflow/orderflow/demo"
	"github.com/orderflow/orderflow/demo/oracle"
	"github.com/orderflow/orderflow/sandbox/ledger"
	"github.com/orderflow/orderflow/schemas"
)

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
	a.record(&a.noteCats, &a.notes, cat, orderID, fmt.Sprintf(format, args...))
}

// add records a violation.
func (a *auditor) add(cat, orderID, format string, args ...any) {
	a.record(&a.cats, &a.viol, cat, orderID, fmt.Sprintf(format, args...))
}

// record appends line to category cat of byCat (cats keeps the categories in first-seen order)
// and marks the order for log excerpts.
func (a *auditor) record(cats *[]string, byCat *map[string][]string, cat, orderID, line string) {
	if *byCat == nil {
		*byCat = map[string][]string{}
	}
	if _, ok := (*byCat)[cat]; !ok {
		*cats = append(*cats, cat)
	}
	(*byCat)[cat] = append((*byCat)[cat], line)
	if orderID != "" {
		if a.interest == nil {
			a.interest = map[string]bool{}
		}
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

// audit runs the checks of package oracle (the four invariants, the announced submits and
// charged-but-nothing-placed) and prints the report.
func (r *runner) audit(ctx context.Context, brokers []string) *auditor {
	a := &auditor{}
	t := r.follow.Tally
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
	report := func(fs []oracle.Finding) []oracle.Finding {
		for _, f := range fs {
			if f.Tolerated {
				a.note(f.Check, f.OrderID, "%s", f.Detail)
			} else {
				a.add(f.Check, f.OrderID, "%s", f.Detail)
			}
		}
		return fs
	}

	entries, lerr := fetchLedger(ctx, r.sbURL)
	if lerr != nil {
		a.add("audit could not run", "", "ledger: %v", lerr)
	}
	noRef := 0
	for _, e := range entries {
		if e.OrderRef == "" {
			noRef++
		}
	}
	// 3. the ledger: no order attempt with more than one submitted cart / consumed checkout.
	double := len(report(oracle.NoDoubleSubmit(entries)))

	// 1. every order finished with its scenario's outcome (oracle.Outcomes has the rule for a
	// tolerated, degraded outcome; -strict makes it a violation).
	outcomes := report(oracle.Outcomes(wants, t, entries, o.strict))
	degradedIDs := map[string]bool{}
	for _, f := range outcomes {
		if f.Check == oracle.CheckDegraded {
			degradedIDs[f.OrderID] = true
		}
	}
	byScenario := map[string]map[string]int{}
	for _, id := range ids {
		sc := wants[id]
		if byScenario[sc.Name] == nil {
			byScenario[sc.Name] = map[string]int{}
		}
		got := t.Outcome(id)
		switch {
		case got == "":
			got = "unfinished"
		case degradedIDs[id]:
			got += " (degraded)"
		}
		byScenario[sc.Name][got]++
	}
	degraded := len(degradedIDs)

	// Every attempt the tracker worked on must have had its submit announced.
	gaps := len(report(oracle.Announced(ids, t)))

	// 2. exactly one terminal event per merchant order (distinct event ids).
	terms := r.follow.Terminals()
	terminalEvents := 0
	for _, evs := range terms {
		terminalEvents += len(evs)
	}
	dupTerminal := len(report(oracle.OneTerminal(terms)))
	statusRecords, decodeErrs, _ := r.follow.Read()

	// 4. dead letters: action and history, and a dead letter behind every dead_lettered status.
	dlqRecs, derr := oracle.ReadTopic(ctx, brokers, r.o.kafkaOpts, r.topo.DLQ())
	if derr != nil {
		a.add("audit could not run", "", "dead letters: %v", derr)
	}
	var dls []schemas.DeadLetter
	dlDecodeErrs := 0
	for _, rec := range dlqRecs {
		dl, err := r.prod.Codec().DecodeDeadLetter(ctx, rec.Value)
		if err != nil {
			dlDecodeErrs++
			a.add("undecodable dead letter", "", "p%d@%d: %v", rec.Partition, rec.Offset, err)
			continue
		}
		dls = append(dls, dl)
	}
	dlFindings := report(oracle.DeadLetters(dls, terms))
	raw, dupDL := oracle.Count(dlFindings, oracle.CheckUnprocessable), oracle.Count(dlFindings, oracle.CheckDuplicateLetter)

	// Charged and not refunded, yet no merchant of the order placed: the customer paid for nothing.
	chargedNotPlaced := len(report(oracle.ChargedNotPlaced(entries, wants, t)))

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
	for _, k := range slices.Sorted(maps.Keys(counts)) {
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
	fmt.Printf("dead letters           %d (%d unprocessable records, %d undecodable), duplicate dead letters %d\n", len(dls), raw, dlDecodeErrs, dupDL)
	fmt.Println("outcomes by scenario:")
	names := slices.Sorted(maps.Keys(byScenario))
	for _, n := range names {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(byScenario[n])) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, byScenario[n][k]))
		}
		fmt.Printf("  %-28s %s\n", n, strings.Join(parts, " "))
	}
	fmt.Printf("degraded outcomes      %d (tolerated: see oracle.Outcomes; -strict makes them violations)\n", degraded)
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
	for _, id := range ids {
		if end, ok := r.follow.LastTerminal(id); ok {
			ls = append(ls, lat{id, end.Sub(r.sentAt[id])})
		}
	}
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
