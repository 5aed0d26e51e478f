package schemas

import (
	"context"
	"reflect"
	"testing"

	"github.com/linkedin/goavro/v2"
)

func TestReplayAuditAndDeadLetterReplayFieldsRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	for topic, n := range map[string]Name{"dlq": NameDeadLetter, "replays": NameReplayAudit} {
		src, err := Source(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := goavro.NewCodec(src); err != nil {
			t.Fatalf("compiling %s: %v", n, err)
		}
		if _, err := c.Register(ctx, topic, n); err != nil {
			t.Fatal(err)
		}
	}
	req := sampleRequest()
	no := false
	d := DeadLetter{DeadLetterID: "d", OrderID: "o-1", Attempt: 2, Provider: "rye", Reason: "r", Action: "new-payment-method",
		Retryable: &no, CartID: "cart-1", Merchant: "amazon", Phase: "submission", Request: &req,
		FailedItems: req.Items, ReplayCount: 2, ReplayID: "r-1", At: req.RequestedAt,
		Attempts: []Attempt{{At: req.RequestedAt, Attempt: 2, Phase: "submission", Code: "PAYMENT_FAILED", Retryable: &no}}}
	b, err := c.Encode("dlq", d)
	if err != nil {
		t.Fatal(err)
	}
	gotD, err := c.DecodeDeadLetter(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotD, d) {
		t.Fatalf("dead letter round trip:\n got %+v\nwant %+v", gotD, d)
	}

	a := ReplayAudit{AuditID: "a", ReplayID: "r-1", DeadLetterID: "d", OrderID: "o-1", Provider: "rye", Merchant: "amazon",
		Action: "new-payment-method", Label: "will-submit", Result: "submitted", SourceAttempt: 2, Attempt: 3, ReplayCount: 3,
		PatchedFields: []string{"payment_ref"}, Forced: true, Operator: "ada", At: req.RequestedAt}
	b, err = c.Encode("replays", a)
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := c.DecodeReplayAudit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotA, a) {
		t.Fatalf("audit round trip:\n got %+v\nwant %+v", gotA, a)
	}
	if _, err := c.DecodeReplayAudit(ctx, mustEncodeDL(t, c, d)); err == nil {
		t.Fatal("decoding a dead letter as a replay audit succeeded")
	}
}

func mustEncodeDL(t *testing.T, c *Codec, d DeadLetter) []byte {
	t.Helper()
	b, err := c.Encode("dlq", d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
