package dlq

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/schemas"
)

// RedactPaymentRef hides a payment token or source id, keeping its kind: "tok_visa" -> "tok_…".
func RedactPaymentRef(s string) string {
	if s == "" {
		return ""
	}
	if i := strings.IndexByte(s, '_'); i > 0 && i <= 8 {
		return s[:i+1] + "…"
	}
	return "…"
}

// redact keeps the first letter of personal data.
func redact(s string) string {
	if s == "" {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(s)
	return string(r) + "***"
}

func retryableText(b *bool) string {
	if b == nil {
		return "unknown"
	}
	return strconv.FormatBool(*b)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

const timeFormat = "2006-01-02 15:04:05"

// WriteTable renders entries as an aligned table, one dead letter per line. Ids are
// abbreviated to 12 characters; any unique prefix selects a dead letter.
func WriteTable(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT (UTC)\tID\tORDER\tATT\tMERCHANT\tPROVIDER\tACTION\tCODE\tRETRYABLE\tREPLAYS\tREPLAYED\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.At.UTC().Format(timeFormat), short(e.DeadLetterID),
			e.OrderID, e.Attempt, dash(e.Merchant), dash(e.Provider), e.Action, dash(e.Code), retryableText(e.Retryable),
			replays(e.DeadLetter), replayedText(e.Replayed), truncate(e.Reason, 60))
	}
	return tw.Flush()
}

// replayedText is the REPLAYED column: "-" (never replayed), or the last decision, e.g.
// "submitted att 2", "submitted att 2, dead-lettered again 5f3a…", "refused (cap-reached)".
func replayedText(r *Replayed) string {
	if r == nil {
		return "-"
	}
	a := r.Last
	s := a.Result
	switch {
	case a.Attempt > 0:
		s += fmt.Sprintf(" att %d", a.Attempt)
	case a.Label != "":
		s += " (" + a.Label + ")"
	}
	if r.DeadLetteredAgain != "" {
		s += ", dead-lettered again " + short(r.DeadLetteredAgain)
	}
	if r.Decisions > 1 {
		s += fmt.Sprintf(" [%d runs]", r.Decisions)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// View is the JSON form of a dead letter: payment references and personal data redacted.
type View struct {
	DeadLetterID    string            `json:"dead_letter_id"`
	OrderID         string            `json:"order_id,omitempty"`
	Attempt         int               `json:"attempt"`
	Merchant        string            `json:"merchant,omitempty"`
	Provider        string            `json:"provider,omitempty"`
	Phase           string            `json:"phase,omitempty"`
	Action          string            `json:"action"`
	Rule            string            `json:"rule,omitempty"`
	Code            string            `json:"code,omitempty"`
	Reason          string            `json:"reason"`
	Retryable       *bool             `json:"retryable"`
	CartID          string            `json:"cart_id,omitempty"`
	ReplayCount     int               `json:"replay_count"`
	ReplayID        string            `json:"replay_id,omitempty"`
	SourceTopic     string            `json:"source_topic,omitempty"`
	SourcePartition int32             `json:"source_partition"`
	SourceOffset    int64             `json:"source_offset"`
	Copies          int               `json:"copies"`
	TraceContext    map[string]string `json:"trace_context,omitempty"`
	At              time.Time         `json:"at"`
	Request         *RequestView      `json:"request,omitempty"`
	FailedItems     []schemas.Item    `json:"failed_items,omitempty"`
	Attempts        []AttemptView     `json:"attempts"`
	RawValueBytes   int               `json:"raw_value_bytes,omitempty"`
	Replay          *PlanView         `json:"replay,omitempty"`
	// Replayed is null when the dead letter was never replayed.
	Replayed *ReplayedView `json:"replayed"`
}

// ReplayedView is what became of a dead letter's replays: the latest recorded decision.
type ReplayedView struct {
	ReplayID string    `json:"replay_id"`
	At       time.Time `json:"at"`
	Label    string    `json:"label"`
	// Result is submitted, noop, refused or failed.
	Result string `json:"result"`
	// Attempt is the attempt the replay published; 0 when nothing was published.
	Attempt           int    `json:"attempt"`
	Reason            string `json:"reason,omitempty"`
	Forced            bool   `json:"forced,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Decisions         int    `json:"decisions"`
	DeadLetteredAgain string `json:"dead_lettered_again,omitempty"`
}

// RequestView is a request with its payment reference redacted and, unless full, its buyer.
type RequestView struct {
	Attempt     int               `json:"attempt"`
	Buyer       schemas.Buyer     `json:"buyer"`
	Items       []schemas.Item    `json:"items"`
	Currency    string            `json:"currency"`
	PaymentRef  string            `json:"payment_ref"`
	RequestedAt time.Time         `json:"requested_at"`
	Deadline    *time.Time        `json:"deadline,omitempty"`
	ReplayID    string            `json:"replay_id,omitempty"`
	ReplayCount int               `json:"replay_count"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// AttemptView is one failed provider call.
type AttemptView struct {
	At         time.Time `json:"at"`
	Attempt    int       `json:"attempt"`
	Phase      string    `json:"phase"`
	Code       string    `json:"code,omitempty"`
	Message    string    `json:"message,omitempty"`
	Retryable  *bool     `json:"retryable"`
	HTTPStatus int       `json:"http_status,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
	CartID     string    `json:"cart_id,omitempty"`
	LatencyMS  int64     `json:"latency_ms"`
}

// PlanView is a plan or a replay result.
type PlanView struct {
	Label     Label  `json:"label"`
	Detail    string `json:"detail"`
	ReuseCart string `json:"reuse_cart,omitempty"`
	Result    string `json:"result,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Forced    bool   `json:"forced,omitempty"`
}

// NewView returns the JSON view of e. full keeps the buyer's name and address (for show).
func NewView(e Entry, full bool) View {
	v := View{
		DeadLetterID: e.DeadLetterID, OrderID: e.OrderID, Attempt: e.Attempt, Merchant: e.Merchant, Provider: e.Provider,
		Phase: e.Phase, Action: e.Action, Rule: e.Rule, Code: e.Code, Reason: e.Reason, Retryable: e.Retryable,
		CartID: e.CartID, ReplayCount: replays(e.DeadLetter), ReplayID: e.ReplayID, SourceTopic: e.SourceTopic,
		SourcePartition: e.SourcePartition, SourceOffset: e.SourceOffset, Copies: e.Copies, TraceContext: e.TraceContext,
		At: e.At, FailedItems: e.FailedItems, Attempts: []AttemptView{}, RawValueBytes: len(e.RawValue),
	}
	if r := e.Replayed; r != nil {
		v.Replayed = &ReplayedView{ReplayID: r.Last.ReplayID, At: r.Last.At, Label: r.Last.Label, Result: r.Last.Result,
			Attempt: r.Last.Attempt, Reason: r.Last.Reason, Forced: r.Last.Forced, Operator: r.Last.Operator,
			Decisions: r.Decisions, DeadLetteredAgain: r.DeadLetteredAgain}
	}
	for _, a := range e.Attempts {
		v.Attempts = append(v.Attempts, AttemptView{At: a.At, Attempt: a.Attempt, Phase: a.Phase, Code: a.Code, Message: a.Message,
			Retryable: a.Retryable, HTTPStatus: a.HTTPStatus, RequestID: a.RequestID, CartID: a.CartID, LatencyMS: a.Latency.Milliseconds()})
	}
	if r := e.Request; r != nil {
		rv := &RequestView{Attempt: r.Attempt, Buyer: r.Buyer, Items: r.Items, Currency: r.Currency,
			PaymentRef: RedactPaymentRef(r.PaymentRef), RequestedAt: r.RequestedAt, ReplayID: r.ReplayID,
			ReplayCount: r.ReplayCount, Attributes: r.Attributes}
		if !r.Deadline.IsZero() {
			rv.Deadline = &r.Deadline
		}
		rv.Buyer.Email, rv.Buyer.Phone = redact(r.Buyer.Email), redact(r.Buyer.Phone)
		if !full {
			b := &rv.Buyer
			for _, f := range []*string{&b.FirstName, &b.LastName, &b.Address1, &b.Address2, &b.City, &b.PostalCode} {
				*f = redact(*f)
			}
		}
		v.Request = rv
	}
	return v
}

// WriteJSON writes the entries as a JSON array of View, redacted as in list output.
func WriteJSON(w io.Writer, entries []Entry) error {
	views := make([]View, len(entries))
	for i, e := range entries {
		views[i] = NewView(e, false)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(views)
}

func planView(r Result) *PlanView {
	return &PlanView{Label: r.Label, Detail: r.Detail, ReuseCart: r.ReuseCart, Result: r.Result, Attempt: r.Published, Reason: r.Reason, Forced: r.Forced}
}

// WriteShow renders one dead letter in full for a person about to fix it: every attempt, the
// request with the buyer's name and address (never the payment reference, e-mail or phone in
// full), and what a replay would do if plan is not nil.
func WriteShow(w io.Writer, e Entry, plan *Plan) error {
	v := NewView(e, true)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, val any) { fmt.Fprintf(tw, "%s\t%v\n", k, val) }
	row("dead letter", v.DeadLetterID)
	row("order", fmt.Sprintf("%s  attempt %d  merchant %s  provider %s", dash(v.OrderID), v.Attempt, dash(v.Merchant), dash(v.Provider)))
	row("at", v.At.UTC().Format(time.RFC3339))
	row("reason", v.Reason)
	row("action", v.Action)
	row("rule", dash(v.Rule))
	row("code", fmt.Sprintf("%s  retryable %s  phase %s", dash(v.Code), retryableText(v.Retryable), dash(v.Phase)))
	row("cart", dash(v.CartID))
	row("replays", fmt.Sprintf("%d  last replay %s", v.ReplayCount, dash(v.ReplayID)))
	row("replayed", replayedText(e.Replayed))
	row("source", fmt.Sprintf("%s partition %d offset %d (%d copies read)", dash(v.SourceTopic), v.SourcePartition, v.SourceOffset, v.Copies))
	for k, val := range v.TraceContext {
		row("trace "+k, val)
	}
	if v.RawValueBytes > 0 {
		row("raw value", fmt.Sprintf("%d bytes (not shown)", v.RawValueBytes))
	}
	if r := v.Request; r != nil {
		b := r.Buyer
		row("buyer", strings.TrimSpace(b.FirstName+" "+b.LastName)+"  email "+dash(b.Email)+"  phone "+dash(b.Phone))
		row("address", strings.Join(nonEmpty(b.Address1, b.Address2, b.City, b.ProvinceCode, b.PostalCode, b.CountryCode), ", "))
		row("payment", dash(r.PaymentRef)+"  currency "+r.Currency)
		row("requested", r.RequestedAt.UTC().Format(time.RFC3339))
		if r.Deadline != nil {
			row("deadline", r.Deadline.UTC().Format(time.RFC3339))
		}
		items := v.FailedItems
		if len(items) == 0 {
			items = r.Items
		}
		for i, it := range items {
			row(fmt.Sprintf("item %d", i), fmt.Sprintf("%s %s x%d at %d cents", it.Merchant, it.ProductID, it.Quantity, it.PriceCents))
		}
	}
	if plan != nil {
		row("replay would", fmt.Sprintf("%s: %s", plan.Label, plan.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nattempts (%d):\n", len(v.Attempts))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  AT (UTC)\tATT\tPHASE\tCODE\tRETRYABLE\tHTTP\tREQUEST ID\tCART\tLATENCY\tMESSAGE")
	for _, a := range v.Attempts {
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%dms\t%s\n", a.At.UTC().Format(timeFormat), a.Attempt, a.Phase, dash(a.Code),
			retryableText(a.Retryable), a.HTTPStatus, dash(a.RequestID), dash(a.CartID), a.LatencyMS, truncate(a.Message, 80))
	}
	return tw.Flush()
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// WriteResults renders replay results (or dry-run labels) as a table.
func WriteResults(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tORDER\tATT\tACTION\tLABEL\tRESULT\tNEW ATT\tDETAIL")
	for _, r := range results {
		d := r.DeadLetter
		detail := r.Detail
		if r.Reason != "" {
			detail = r.Reason
		}
		if r.Forced {
			detail = "FORCED: " + detail
		}
		newAtt := "-"
		if r.Published > 0 {
			newAtt = strconv.Itoa(r.Published)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", short(d.DeadLetterID), dash(d.OrderID), d.Attempt, d.Action,
			r.Label, r.Result, newAtt, detail)
	}
	return tw.Flush()
}

// WriteResultsJSON writes replay results as a JSON array of View with their replay field set.
func WriteResultsJSON(w io.Writer, results []Result) error {
	views := make([]View, len(results))
	for i, r := range results {
		views[i] = NewView(Entry{DeadLetter: r.DeadLetter, Copies: 1}, false)
		views[i].Replay = planView(r)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(views)
}
