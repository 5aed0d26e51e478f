package schemas

import (
	"time"

	"github.com/linkedin/goavro/v2"
)

// This file maps the Go types to goavro's native form and back. Decoding reads fields by
// name with defaults, so a record written with an older or newer compatible schema decodes.

const ns = "orderflow.v1."

func (o OrderRequested) native() map[string]any {
	m := map[string]any{
		"order_id":         o.OrderID,
		"attempt":          int32(o.Attempt),
		"provider":         o.Provider,
		"buyer":            o.Buyer.native(),
		"items":            itemsNative(o.Items),
		"currency":         o.Currency,
		"payment_ref":      optString(o.PaymentRef),
		"shopper_ip":       o.ShopperIP,
		"requested_at":     o.RequestedAt,
		"deadline":         nil,
		"replaces_cart_id": optString(o.ReplacesCartID),
		"replay_id":        optString(o.ReplayID),
		"replay_count":     int32(o.ReplayCount),
		"attributes":       stringMapNative(o.Attributes),
		"billing":          nil,
	}
	if o.Billing != nil {
		m["billing"] = goavro.Union(ns+"Buyer", o.Billing.native())
	}
	if !o.Deadline.IsZero() {
		m["deadline"] = goavro.Union("long.timestamp-millis", o.Deadline)
	}
	return m
}

func orderRequestedFrom(v any) OrderRequested {
	r := asRec(v)
	return OrderRequested{
		OrderID:        r.str("order_id"),
		Attempt:        r.int("attempt"),
		Provider:       r.str("provider"),
		Buyer:          buyerFrom(r["buyer"]),
		Items:          itemsFrom(r["items"]),
		Currency:       r.str("currency"),
		PaymentRef:     r.optStr("payment_ref"),
		ShopperIP:      r.str("shopper_ip"),
		RequestedAt:    r.time("requested_at"),
		Deadline:       r.optTime("deadline"),
		ReplacesCartID: r.optStr("replaces_cart_id"),
		ReplayID:       r.optStr("replay_id"),
		ReplayCount:    r.int("replay_count"),
		Attributes:     r.stringMap("attributes"),
		Billing:        optBuyer(r.union("billing")),
	}
}

func optBuyer(v any) *Buyer {
	if v == nil {
		return nil
	}
	b := buyerFrom(v)
	return &b
}

func (b Buyer) native() map[string]any {
	return map[string]any{
		"first_name": b.FirstName, "last_name": b.LastName, "email": b.Email, "phone": b.Phone,
		"address1": b.Address1, "address2": b.Address2, "city": b.City,
		"province_code": b.ProvinceCode, "postal_code": b.PostalCode, "country_code": b.CountryCode,
	}
}

func buyerFrom(v any) Buyer {
	r := asRec(v)
	return Buyer{
		FirstName: r.str("first_name"), LastName: r.str("last_name"), Email: r.str("email"), Phone: r.str("phone"),
		Address1: r.str("address1"), Address2: r.str("address2"), City: r.str("city"),
		ProvinceCode: r.str("province_code"), PostalCode: r.str("postal_code"), CountryCode: r.str("country_code"),
	}
}

func itemsNative(items []Item) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = map[string]any{
			"merchant": it.Merchant, "product_id": it.ProductID,
			"quantity": int32(it.Quantity), "price_cents": it.PriceCents,
			"name": it.Name, "sku_group_id": it.SKUGroupID, "country_of_origin": it.CountryOfOrigin,
		}
	}
	return out
}

func itemsFrom(v any) []Item {
	arr, _ := v.([]any)
	if len(arr) == 0 {
		return nil
	}
	out := make([]Item, 0, len(arr))
	for _, e := range arr {
		r := asRec(e)
		out = append(out, Item{Merchant: r.str("merchant"), ProductID: r.str("product_id"), Quantity: r.int("quantity"), PriceCents: r.long("price_cents"),
			Name: r.str("name"), SKUGroupID: r.str("sku_group_id"), CountryOfOrigin: r.str("country_of_origin")})
	}
	return out
}

func (s OrderStatus) native() map[string]any {
	return map[string]any{
		"event_id": s.EventID, "order_id": s.OrderID, "attempt": int32(s.Attempt), "provider": s.Provider,
		"state": s.State, "terminal": s.Terminal, "cart_id": s.CartID, "merchant": s.Merchant,
		"merchant_order_id": s.MerchantOrderID, "code": s.Code, "action": s.Action, "message": s.Message, "redirect_url": s.RedirectURL, "at": s.At,
	}
}

func orderStatusFrom(v any) OrderStatus {
	r := asRec(v)
	return OrderStatus{
		EventID: r.str("event_id"), OrderID: r.str("order_id"), Attempt: r.int("attempt"), Provider: r.str("provider"),
		State: r.str("state"), Terminal: r.bool("terminal"), CartID: r.str("cart_id"), Merchant: r.str("merchant"),
		MerchantOrderID: r.str("merchant_order_id"), Code: r.str("code"), Action: r.str("action"), Message: r.str("message"),
		RedirectURL: r.str("redirect_url"), At: r.time("at"),
	}
}

func (a Attempt) native() map[string]any {
	return map[string]any{
		"at": a.At, "attempt": int32(a.Attempt), "phase": a.Phase, "code": a.Code, "message": a.Message,
		"retryable": optBool(a.Retryable), "http_status": int32(a.HTTPStatus), "request_id": a.RequestID,
		"cart_id": a.CartID, "latency_ms": a.Latency.Milliseconds(),
	}
}

func attemptsNative(as []Attempt) []any {
	out := make([]any, len(as))
	for i, a := range as {
		out[i] = a.native()
	}
	return out
}

func attemptsFrom(v any) []Attempt {
	arr, _ := v.([]any)
	if len(arr) == 0 {
		return nil
	}
	out := make([]Attempt, 0, len(arr))
	for _, e := range arr {
		r := asRec(e)
		out = append(out, Attempt{
			At: r.time("at"), Attempt: r.int("attempt"), Phase: r.str("phase"), Code: r.str("code"), Message: r.str("message"),
			Retryable: r.optBool("retryable"), HTTPStatus: r.int("http_status"), RequestID: r.str("request_id"),
			CartID: r.str("cart_id"), Latency: time.Duration(r.long("latency_ms")) * time.Millisecond,
		})
	}
	return out
}

func (f OrderFailure) native() map[string]any {
	return map[string]any{
		"event_id": f.EventID, "order_id": f.OrderID, "attempt": int32(f.Attempt), "provider": f.Provider,
		"phase": f.Phase, "class": f.Class, "code": f.Code, "message": f.Message, "retryable": optBool(f.Retryable),
		"http_status": int32(f.HTTPStatus), "request_id": f.RequestID, "cart_id": f.CartID, "merchant": f.Merchant,
		"merchant_order_id": f.MerchantOrderID, "action": f.Action, "failed_items": itemsNative(f.FailedItems),
		"attempts": attemptsNative(f.Attempts), "request": f.Request.native(), "at": f.At,
	}
}

func orderFailureFrom(v any) OrderFailure {
	r := asRec(v)
	return OrderFailure{
		EventID: r.str("event_id"), OrderID: r.str("order_id"), Attempt: r.int("attempt"), Provider: r.str("provider"),
		Phase: r.str("phase"), Class: r.str("class"), Code: r.str("code"), Message: r.str("message"),
		Retryable: r.optBool("retryable"), HTTPStatus: r.int("http_status"), RequestID: r.str("request_id"),
		CartID: r.str("cart_id"), Merchant: r.str("merchant"), MerchantOrderID: r.str("merchant_order_id"),
		Action: r.str("action"), FailedItems: itemsFrom(r["failed_items"]), Attempts: attemptsFrom(r["attempts"]),
		Request: orderRequestedFrom(r["request"]), At: r.time("at"),
	}
}

func (d DeadLetter) native() map[string]any {
	m := map[string]any{
		"dead_letter_id": d.DeadLetterID, "order_id": d.OrderID, "attempt": int32(d.Attempt), "provider": d.Provider,
		"reason": d.Reason, "action": d.Action, "rule": d.Rule, "code": d.Code, "retryable": optBool(d.Retryable),
		"cart_id": d.CartID, "merchant": d.Merchant, "phase": d.Phase, "source_topic": d.SourceTopic, "source_partition": d.SourcePartition,
		"source_offset": d.SourceOffset, "raw_key": optBytes(d.RawKey), "raw_value": optBytes(d.RawValue),
		"request": nil, "failed_items": itemsNative(d.FailedItems), "attempts": attemptsNative(d.Attempts),
		"replay_count": int32(d.ReplayCount), "replay_id": d.ReplayID,
		"trace_context": stringMapNative(d.TraceContext), "at": d.At,
		"raw_digest": nil, "omitted": stringsNative(d.Omitted),
	}
	if d.Request != nil {
		m["request"] = goavro.Union(ns+"OrderRequested", d.Request.native())
	}
	if g := d.RawDigest; g != nil {
		m["raw_digest"] = goavro.Union(ns+"RawDigest", map[string]any{
			"key_size": g.KeySize, "key_sha256": g.KeySHA256, "value_size": g.ValueSize, "value_sha256": g.ValueSHA256})
	}
	return m
}

func deadLetterFrom(v any) DeadLetter {
	r := asRec(v)
	d := DeadLetter{
		DeadLetterID: r.str("dead_letter_id"), OrderID: r.str("order_id"), Attempt: r.int("attempt"),
		Provider: r.str("provider"), Reason: r.str("reason"), Action: r.str("action"), Rule: r.str("rule"),
		Code: r.str("code"), Retryable: r.optBool("retryable"), CartID: r.str("cart_id"),
		Merchant: r.str("merchant"), Phase: r.str("phase"),
		SourceTopic: r.str("source_topic"), SourcePartition: int32(r.int("source_partition")),
		SourceOffset: r.long("source_offset"), RawKey: r.optBytes("raw_key"), RawValue: r.optBytes("raw_value"),
		FailedItems: itemsFrom(r["failed_items"]), Attempts: attemptsFrom(r["attempts"]), ReplayCount: r.int("replay_count"),
		ReplayID: r.str("replay_id"), TraceContext: r.stringMap("trace_context"), At: r.time("at"),
	}
	if u := r.union("request"); u != nil {
		req := orderRequestedFrom(u)
		d.Request = &req
	}
	if u := r.union("raw_digest"); u != nil {
		g := asRec(u)
		d.RawDigest = &RawDigest{KeySize: g.long("key_size"), KeySHA256: g.str("key_sha256"),
			ValueSize: g.long("value_size"), ValueSHA256: g.str("value_sha256")}
	}
	d.Omitted = stringsFrom(r["omitted"])
	return d
}

func stringsNative(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func stringsFrom(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (a ReplayAudit) native() map[string]any {
	fields := make([]any, len(a.PatchedFields))
	for i, f := range a.PatchedFields {
		fields[i] = f
	}
	return map[string]any{
		"audit_id": a.AuditID, "replay_id": a.ReplayID, "dead_letter_id": a.DeadLetterID, "order_id": a.OrderID,
		"provider": a.Provider, "merchant": a.Merchant, "action": a.Action, "label": a.Label, "result": a.Result,
		"reason": a.Reason, "source_attempt": int32(a.SourceAttempt), "attempt": int32(a.Attempt),
		"replay_count": int32(a.ReplayCount), "cart_id": a.CartID, "patched_fields": fields, "forced": a.Forced,
		"operator": a.Operator, "at": a.At,
	}
}

func replayAuditFrom(v any) ReplayAudit {
	r := asRec(v)
	a := ReplayAudit{
		AuditID: r.str("audit_id"), ReplayID: r.str("replay_id"), DeadLetterID: r.str("dead_letter_id"),
		OrderID: r.str("order_id"), Provider: r.str("provider"), Merchant: r.str("merchant"), Action: r.str("action"),
		Label: r.str("label"), Result: r.str("result"), Reason: r.str("reason"), SourceAttempt: r.int("source_attempt"),
		Attempt: r.int("attempt"), ReplayCount: r.int("replay_count"), CartID: r.str("cart_id"),
		Forced: r.bool("forced"), Operator: r.str("operator"), At: r.time("at"),
	}
	arr, _ := r["patched_fields"].([]any)
	for _, f := range arr {
		if s, ok := f.(string); ok {
			a.PatchedFields = append(a.PatchedFields, s)
		}
	}
	return a
}

func (t Tracking) native() map[string]any {
	return map[string]any{
		"order_id": t.OrderID, "attempt": int32(t.Attempt), "provider": t.Provider, "cart_id": t.CartID,
		"submitted_at": t.SubmittedAt, "polls": int32(t.Polls), "resubmits": int32(t.Resubmits), "refusals": int32(t.Refusals), "chain": t.Chain, "started_announced": t.Announced,
		"outcome_unknown": t.OutcomeUnknown, "request": t.Request.native(), "action_waits": actionWaitsNative(t.ActionWaits),
	}
}

func actionWaitsNative(ws []ActionWait) []any {
	out := make([]any, len(ws))
	for i, w := range ws {
		out[i] = map[string]any{
			"merchant": w.Merchant, "merchant_order_id": w.MerchantOrderID, "redirect_url": w.RedirectURL,
			"since": w.Since, "last_seen": w.LastSeen, "waiting": w.Waiting,
		}
	}
	return out
}

func actionWaitsFrom(v any) []ActionWait {
	arr, _ := v.([]any)
	if len(arr) == 0 {
		return nil
	}
	out := make([]ActionWait, 0, len(arr))
	for _, e := range arr {
		r := asRec(e)
		out = append(out, ActionWait{Merchant: r.str("merchant"), MerchantOrderID: r.str("merchant_order_id"), RedirectURL: r.str("redirect_url"),
			Since: r.time("since"), LastSeen: r.time("last_seen"), Waiting: r.bool("waiting")})
	}
	return out
}

func trackingFrom(v any) Tracking {
	r := asRec(v)
	return Tracking{
		OrderID: r.str("order_id"), Attempt: r.int("attempt"), Provider: r.str("provider"), CartID: r.str("cart_id"),
		SubmittedAt: r.time("submitted_at"), Polls: r.int("polls"), Resubmits: r.int("resubmits"), Refusals: r.int("refusals"), Chain: r.long("chain"), Announced: r.bool("started_announced"),
		OutcomeUnknown: r.bool("outcome_unknown"), Request: orderRequestedFrom(r["request"]), ActionWaits: actionWaitsFrom(r["action_waits"]),
	}
}

// rec reads a decoded record by field name; a missing field reads as its zero value, which
// equals the schema default for every defaulted field above.
type rec map[string]any

func asRec(v any) rec { m, _ := v.(map[string]any); return m }

func (r rec) str(k string) string { s, _ := r[k].(string); return s }
func (r rec) bool(k string) bool  { b, _ := r[k].(bool); return b }

func (r rec) int(k string) int {
	switch n := r[k].(type) {
	case int32:
		return int(n)
	case int64:
		return int(n)
	case int:
		return n
	}
	return 0
}

func (r rec) long(k string) int64 { return int64(r.int(k)) }

func (r rec) time(k string) time.Time {
	switch t := r[k].(type) {
	case time.Time:
		return t.UTC()
	case int64:
		return time.UnixMilli(t).UTC()
	}
	return time.Time{}
}

// union returns the value inside a ["null", T] union, or nil.
func (r rec) union(k string) any {
	m, ok := r[k].(map[string]any)
	if !ok {
		return nil
	}
	for _, v := range m {
		return v
	}
	return nil
}

func (r rec) optStr(k string) string { s, _ := r.union(k).(string); return s }
func (r rec) optBytes(k string) []byte {
	b, _ := r.union(k).([]byte)
	return b
}

func (r rec) optBool(k string) *bool {
	if b, ok := r.union(k).(bool); ok {
		return &b
	}
	return nil
}

func (r rec) optTime(k string) time.Time { return rec{"v": r.union(k)}.time("v") }

func (r rec) stringMap(k string) map[string]string {
	m, _ := r[k].(map[string]any)
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for key, v := range m {
		out[key], _ = v.(string)
	}
	return out
}

func optString(s string) any {
	if s == "" {
		return nil
	}
	return goavro.Union("string", s)
}

func optBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return goavro.Union("bytes", b)
}

func optBool(b *bool) any {
	if b == nil {
		return nil
	}
	return goavro.Union("boolean", *b)
}

func stringMapNative(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
