package schemas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/internal/testenv"
)

// TestDeadLetterShrink walks the whole ladder: every step makes the encoded record smaller,
// says what it left out, keeps the reason and the source offset, and round-trips.
func TestDeadLetterShrink(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	if _, err := c.Register(ctx, "dlq", NameDeadLetter); err != nil {
		t.Fatal(err)
	}
	req := sampleRequest()
	req.Items = slices.Repeat(req.Items, 50)
	raw := bytes.Repeat([]byte{7}, 10_000)
	var attempts []Attempt
	for i := range 10 {
		attempts = append(attempts, Attempt{At: req.RequestedAt, Attempt: 1, Phase: "submission", Code: fmt.Sprint("E", i), Message: strings.Repeat("m", 3000)})
	}
	d := DeadLetter{DeadLetterID: "d", OrderID: "o-1", Attempt: 1, Provider: "rye", Reason: "conflict: " + strings.Repeat("r", 5000),
		Action: "fix-record", SourceTopic: "orders.requests", SourcePartition: 3, SourceOffset: 42,
		RawKey: []byte("o-1"), RawValue: raw, Request: &req, FailedItems: req.Items, Attempts: attempts,
		TraceContext: map[string]string{"traceparent": "00-x"}, At: req.RequestedAt}

	wantOmitted := []string{OmittedRaw, OmittedAttempts, OmittedRequest, OmittedFailedItems, OmittedClipped}
	size := len(mustEncodeDL(t, c, d))
	cur := d
	for i, want := range wantOmitted {
		next, ok := cur.Shrink()
		if !ok {
			t.Fatalf("step %d: nothing left to shrink, want %s", i+1, want)
		}
		cur = next.(DeadLetter)
		if !slices.Equal(cur.Omitted, wantOmitted[:i+1]) {
			t.Fatalf("step %d: omitted %v, want %v", i+1, cur.Omitted, wantOmitted[:i+1])
		}
		b := mustEncodeDL(t, c, cur)
		if len(b) >= size {
			t.Fatalf("step %d (%s): %d bytes, not smaller than %d", i+1, want, len(b), size)
		}
		size = len(b)
		got, err := c.DecodeDeadLetter(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, cur) {
			t.Fatalf("step %d round trip:\n got %+v\nwant %+v", i+1, got, cur)
		}
		if cur.SourceTopic != d.SourceTopic || cur.SourcePartition != 3 || cur.SourceOffset != 42 || cur.OrderID != "o-1" ||
			!strings.HasPrefix(cur.Reason, "conflict: rrr") {
			t.Fatalf("step %d lost the ids, the source offset or the reason: %+v", i+1, cur)
		}
	}
	if _, ok := cur.Shrink(); ok {
		t.Fatal("shrank past the last step")
	}

	first, _ := d.Shrink()
	g := first.(DeadLetter).RawDigest
	sum := sha256.Sum256(raw)
	keySum := sha256.Sum256([]byte("o-1"))
	if g == nil || g.ValueSize != int64(len(raw)) || g.ValueSHA256 != hex.EncodeToString(sum[:]) ||
		g.KeySize != 3 || g.KeySHA256 != hex.EncodeToString(keySum[:]) {
		t.Fatalf("raw digest %+v, want sizes and SHA-256 of the key and value", g)
	}
	if first.(DeadLetter).Request == nil || first.(DeadLetter).RawValue != nil {
		t.Fatal("the first step must keep the decoded request and drop the raw bytes")
	}
	if len(cur.Reason) > clipBytes+64 {
		t.Fatalf("clipped reason is %d bytes", len(cur.Reason))
	}
	if d.Omitted != nil || d.RawValue == nil {
		t.Fatal("Shrink changed its receiver")
	}
}

// TestDeadLetterShrinkWithoutRaw skips the steps that have nothing to give up.
func TestDeadLetterShrinkWithoutRaw(t *testing.T) {
	req := sampleRequest()
	d := DeadLetter{DeadLetterID: "d", OrderID: "o", Reason: "too big", Request: &req}
	next, ok := d.Shrink()
	if !ok || !slices.Equal(next.(DeadLetter).Omitted, []string{OmittedRequest}) || next.(DeadLetter).Request != nil {
		t.Fatalf("first step %+v, want the request left out", next)
	}
}

// TestDeadLetterSchemaIsBackwardCompatible: the new dead-letter schema reads what the previous
// version (testdata) wrote, and a BACKWARD subject accepts it after the previous version. On a
// real registry (testenv.RegistryURL) the registry checks; on srfake the decode is checked.
func TestDeadLetterSchemaIsBackwardCompatible(t *testing.T) {
	ctx := context.Background()
	old, err := os.ReadFile("testdata/dead_letter_v1.avsc.json")
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec(t)
	cl := c.reg.(*sr.Client)
	if real := testenv.RegistryClient(t); real != nil {
		cl, c = real, NewCodec(real)
	}
	topic := fmt.Sprintf("dlq-compat-%d", time.Now().UnixNano())
	for _, res := range cl.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, Subject(topic)) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	ss, err := cl.CreateSchema(ctx, Subject(topic), sr.Schema{Schema: string(old), Type: sr.TypeAvro})
	if err != nil {
		t.Fatalf("registering the previous version: %v", err)
	}
	oldCodec, err := goavro.NewCodec(string(old))
	if err != nil {
		t.Fatal(err)
	}
	req := sampleRequest()
	d := DeadLetter{DeadLetterID: "d", OrderID: "o-1", Reason: "r", Action: "fix-record", SourceTopic: "t", SourcePartition: 1,
		SourceOffset: 2, RawValue: []byte{1}, Request: &req, At: req.RequestedAt}
	native := d.native()
	delete(native, "raw_digest")
	delete(native, "omitted")
	var h sr.ConfluentHeader
	b, _ := h.AppendEncode(nil, ss.ID, nil)
	if b, err = oldCodec.BinaryFromNative(b, native); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, topic, NameDeadLetter); err != nil {
		t.Fatalf("registering the new version after the previous one: %v", err)
	}
	got, err := c.DecodeDeadLetter(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("the new schema reads the previous version's record as\n%+v\nwant\n%+v", got, d)
	}
}

// TestHostileBlockCountIsUndecodable: a 22-byte record claiming 2^31-1 items used to make
// goavro allocate 32 GiB up front (a fatal out-of-memory error, not a panic). It is now an
// undecodable record like any other.
func TestHostileBlockCountIsUndecodable(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	if _, err := c.Register(ctx, "req", NameOrderRequested); err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode("req", OrderRequested{OrderID: "x", Attempt: 1, Provider: "rye"})
	if err != nil {
		t.Fatal(err)
	}
	// Framing (5), order_id "x" (2), attempt (1), provider "rye" (4), the buyer's 10 empty strings (10): then items.
	prefix := b[:5+2+1+4+10]
	for _, count := range []int64{1<<31 - 1, -(1<<31 - 1), MaxBlockCount + 1} {
		hostile := binary.AppendVarint(append([]byte{}, prefix...), count)
		if _, err := c.DecodeOrderRequested(ctx, hostile); !errors.Is(err, ErrUndecodable) {
			t.Fatalf("count %d: err = %v, want ErrUndecodable", count, err)
		}
	}
}
