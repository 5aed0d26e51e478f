// Package oracle says whether a run of demo scenarios went right: it reads what orderflow
// produced (ReadTopic, a bounded topic reader; Tail; Follower, a status follower feeding a
// demo.Tally), names the scaled clocks the roles run on for such a run (Clocks: Demo, Chaos,
// Test), and checks the run's invariants (every order ends as its scenario
// says, one terminal event per merchant order, no order attempt submitted twice, every dead
// letter complete). `orderflow run`'s demo, the end-to-end suite (service) and `make chaos`
// (cmd/chaos) share it, so the three judge a run by the same rules.
package oracle

// Finding is one broken invariant, or (Tolerated) a difference a check reports but accepts.
type Finding struct {
	// Check names the rule, e.g. "unexpected outcome"; findings are grouped by it.
	Check string
	// OrderID is the order involved ("" when none is known).
	OrderID string
	// Detail is the evidence: ids, states, events. It holds no personal data.
	Detail string
	// Tolerated marks a difference the check accepts (a degraded outcome): report, not fail.
	Tolerated bool
}

func (f Finding) String() string { return f.Check + ": " + f.Detail }

// Violations returns the findings that are not tolerated.
func Violations(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if !f.Tolerated {
			out = append(out, f)
		}
	}
	return out
}
