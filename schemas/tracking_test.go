package schemas

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/internal/testenv"
)

func TestTrackingActionWaitsRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	if _, err := c.Register(ctx, "trk", NameTracking); err != nil {
		t.Fatal(err)
	}
	req := sampleRequest()
	at := req.RequestedAt
	tr := Tracking{OrderID: "o-1", Attempt: 2, Provider: "rye", CartID: "cart-1", SubmittedAt: at, Polls: 3, Chain: 7, Announced: true, Request: req,
		ActionWaits: []ActionWait{{Merchant: "amazon", MerchantOrderID: "ord-1", RedirectURL: "https://pay.example/3ds/1",
			Since: at.Add(time.Second), LastSeen: at.Add(3 * time.Second), Waiting: true}}}
	b, err := c.Encode("trk", tr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeTracking(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tr) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, tr)
	}
}

// A tracking record written before action_waits existed (a record in flight during an upgrade)
// decodes with no waits; on a real registry (testenv.RegistryURL) the new version is
// accepted as BACKWARD compatible under the old one's subject.
func TestTrackingWithoutActionWaitsDecodes(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	cl := c.reg.(*sr.Client)
	if real := testenv.RegistryClient(t); real != nil {
		cl, c = real, NewCodec(real)
	}
	src, err := Source(NameTracking)
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(src), &schema); err != nil {
		t.Fatal(err)
	}
	var old []any
	for _, f := range schema["fields"].([]any) {
		if f.(map[string]any)["name"] != "action_waits" {
			old = append(old, f)
		}
	}
	schema["fields"] = old
	oldSrc, _ := json.Marshal(schema)
	topic := fmt.Sprintf("trk-compat-%d", time.Now().UnixNano())
	for _, res := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, Subject(topic)) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	ss, err := cl.CreateSchema(ctx, Subject(topic), sr.Schema{Schema: string(oldSrc), Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, topic, NameTracking); err != nil {
		t.Fatalf("registering the new version after the old one: %v", err)
	}
	oldCodec, err := goavro.NewCodec(string(oldSrc))
	if err != nil {
		t.Fatal(err)
	}
	req := sampleRequest()
	tr := Tracking{OrderID: "o-1", Attempt: 1, Provider: "rye", CartID: "cart-1", SubmittedAt: req.RequestedAt, Chain: 3, Request: req}
	native := tr.native()
	delete(native, "action_waits")
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(nil, ss.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err = oldCodec.BinaryFromNative(b, native); err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeTracking(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tr) {
		t.Fatalf("old record:\n got %+v\nwant %+v", got, tr)
	}
}
