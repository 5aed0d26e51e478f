package dlq_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/dlq"
	"github.com/orderflow/orderflow/schemas"
)

// AttachAudits tells for each dead letter what its replays did; list renders it as REPLAYED
// (table) and "replayed" (JSON).
func TestAttachAuditsAndRender(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)
	dl := func(id, order string, attempt int) dlq.Entry {
		return dlq.Entry{DeadLetter: schemas.DeadLetter{DeadLetterID: id, OrderID: order, Attempt: attempt, Action: "new-payment-method",
			At: t0.Add(time.Duration(attempt) * time.Minute)}, Copies: 1}
	}
	entries := []dlq.Entry{
		dl("aaaaaaaaaaaaaaaa", "o-1", 1), // replayed as attempt 2, which dead-lettered again
		dl("bbbbbbbbbbbbbbbb", "o-2", 1), // refused once, then submitted as attempt 3
		dl("cccccccccccccccc", "o-3", 1), // refused
		dl("dddddddddddddddd", "o-4", 1), // never replayed
		dl("eeeeeeeeeeeeeeee", "o-1", 2), // the replay of o-1
	}
	audits := []schemas.ReplayAudit{
		{AuditID: "1", ReplayID: "r1", DeadLetterID: "aaaaaaaaaaaaaaaa", OrderID: "o-1", Label: "will-submit", Result: dlq.ResultSubmitted, Attempt: 2, At: t0.Add(10 * time.Minute)},
		{AuditID: "2", ReplayID: "r1", DeadLetterID: "bbbbbbbbbbbbbbbb", OrderID: "o-2", Label: "outcome-unknown", Result: dlq.ResultRefused, At: t0.Add(10 * time.Minute)},
		{AuditID: "3", ReplayID: "r2", DeadLetterID: "bbbbbbbbbbbbbbbb", OrderID: "o-2", Label: "outcome-unknown", Result: dlq.ResultSubmitted, Attempt: 3, Forced: true, Operator: "ada", At: t0.Add(20 * time.Minute)},
		{AuditID: "4", ReplayID: "r2", DeadLetterID: "cccccccccccccccc", OrderID: "o-3", Label: "cap-reached", Result: dlq.ResultRefused, Reason: "replayed 3 times", At: t0.Add(20 * time.Minute)},
	}
	dlq.AttachAudits(entries, audits)

	var table bytes.Buffer
	if err := dlq.WriteTable(&table, entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(table.String(), "\n")
	col := strings.Index(lines[0], "REPLAYED")
	end := strings.Index(lines[0], "REASON")
	if col < 0 || end < col {
		t.Fatalf("no REPLAYED column:\n%s", table.String())
	}
	for i, want := range []string{
		"submitted att 2, dead-lettered again eeeeeeeeeeee",
		"submitted att 3 [2 runs]",
		"refused (cap-reached)",
		"-",
		"-",
	} {
		if got := strings.TrimSpace(lines[i+1][col:end]); got != want {
			t.Errorf("row %d REPLAYED %q, want %q\n%s", i, got, want, table.String())
		}
	}

	var js bytes.Buffer
	if err := dlq.WriteJSON(&js, entries); err != nil {
		t.Fatal(err)
	}
	var views []map[string]json.RawMessage
	if err := json.Unmarshal(js.Bytes(), &views); err != nil {
		t.Fatal(err)
	}
	var b dlq.ReplayedView
	if err := json.Unmarshal(views[1]["replayed"], &b); err != nil {
		t.Fatal(err)
	}
	if b.ReplayID != "r2" || b.Result != "submitted" || b.Attempt != 3 || !b.Forced || b.Operator != "ada" || b.Decisions != 2 || b.Label != "outcome-unknown" {
		t.Errorf("o-2 replayed: %+v", b)
	}
	var a dlq.ReplayedView
	if err := json.Unmarshal(views[0]["replayed"], &a); err != nil || a.DeadLetteredAgain != "eeeeeeeeeeeeeeee" {
		t.Errorf("o-1 replayed: %+v, %v", a, err)
	}
	if got := string(views[3]["replayed"]); got != "null" {
		t.Errorf("never replayed: replayed %s, want null", got)
	}
}
