package main

import (
	"slices"
	"testing"
)

// TestAuditorKeepsViolationsAndNotesApart: violations and tolerated notes are grouped by
// category in first-seen order, only violations count, and both mark their orders for the
// log excerpts.
func TestAuditorKeepsViolationsAndNotesApart(t *testing.T) {
	a := &auditor{}
	a.add("unexpected outcome", "o1", "%s: %s", "o1", "placed")
	a.note("degraded", "o2", "o2 escalated")
	a.add("unfinished order", "", "no order")
	a.add("unexpected outcome", "o3", "o3")
	if got := a.violations(); got != 3 {
		t.Errorf("violations %d, want 3", got)
	}
	if !slices.Equal(a.cats, []string{"unexpected outcome", "unfinished order"}) || !slices.Equal(a.noteCats, []string{"degraded"}) {
		t.Errorf("categories %q, notes %q", a.cats, a.noteCats)
	}
	if got := a.viol["unexpected outcome"]; !slices.Equal(got, []string{"o1: placed", "o3"}) {
		t.Errorf("lines %q", got)
	}
	if !a.interest["o1"] || !a.interest["o2"] || !a.interest["o3"] || len(a.interest) != 3 {
		t.Errorf("orders of interest %v, want o1, o2, o3", a.interest)
	}
}
