package schemas

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/internal/testenv"
)

func newCodec(t *testing.T) *Codec {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return NewCodec(cl)
}

func sampleRequest() OrderRequested {
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	return OrderRequested{
		OrderID: "o-1", Attempt: 2, Provider: "rye",
		Buyer:       Buyer{FirstName: "Ada", LastName: "L", Email: "ada@example.com", Address1: "1 Main", City: "SF", ProvinceCode: "CA", PostalCode: "94110", CountryCode: "US"},
		Items:       []Item{{Merchant: "amazon", ProductID: "B01", Quantity: 2, PriceCents: 1999}},
		Currency:    "USD",
		PaymentRef:  "tok_visa",
		ShopperIP:   "203.0.113.7",
		RequestedAt: now,
		Deadline:    now.Add(time.Hour),
		Attributes:  map[string]string{"channel": "web"},
	}
}

func TestEverySchemaCompiles(t *testing.T) {
	for _, n := range []Name{NameOrderRequested, NameOrderStatus, NameOrderFailure, NameDeadLetter, NameTracking} {
		t.Run(string(n), func(t *testing.T) {
			src, err := Source(n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := goavro.NewCodec(src); err != nil {
				t.Fatalf("compiling %s: %v\n%s", n, err, src)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	for topic, n := range map[string]Name{"req": NameOrderRequested, "st": NameOrderStatus, "fail": NameOrderFailure, "dlq": NameDeadLetter, "trk": NameTracking} {
		if _, err := c.Register(ctx, topic, n); err != nil {
			t.Fatal(err)
		}
	}
	req := sampleRequest()
	yes := true

	t.Run("OrderRequested", func(t *testing.T) {
		b, err := c.Encode("req", req)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != 0 {
			t.Fatalf("magic byte = %d, want 0", b[0])
		}
		got, err := c.DecodeOrderRequested(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, req) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, req)
		}
	})
	t.Run("OrderFailure", func(t *testing.T) {
		f := OrderFailure{EventID: "e", OrderID: "o-1", Attempt: 1, Provider: "rye", Phase: "placement", Class: "retryable",
			Code: "OUT_OF_STOCK", Retryable: &yes, HTTPStatus: 200, CartID: "c1", Merchant: "amazon",
			FailedItems: req.Items, Attempts: []Attempt{{At: req.RequestedAt, Attempt: 1, Phase: "submission", Code: "X", Retryable: &yes, Latency: 20 * time.Millisecond}},
			Request: req, At: req.RequestedAt}
		b, err := c.Encode("fail", f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeOrderFailure(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, f)
		}
	})
	t.Run("DeadLetter", func(t *testing.T) {
		d := DeadLetter{DeadLetterID: "d", OrderID: "o-1", Reason: "r", Action: "fix-record", SourceTopic: "t", SourcePartition: 3, SourceOffset: 9,
			RawValue: []byte{1, 2}, Request: &req, At: req.RequestedAt}
		b, err := c.Encode("dlq", d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecodeDeadLetter(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, d) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
		}
	})
}

func TestUndecodable(t *testing.T) {
	ctx := context.Background()
	c := newCodec(t)
	if _, err := c.Register(ctx, "st", NameOrderStatus); err != nil {
		t.Fatal(err)
	}
	status, err := c.Encode("st", OrderStatus{EventID: "e", OrderID: "o", State: "placed", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"not framed": []byte("{\"order_id\":\"x\"}"),
		"unknown id": {0, 0, 0, 0x7f, 1, 2},
		"truncated":  status[:8],
		"wrong type": status,
		"empty":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.DecodeOrderRequested(ctx, b); !errors.Is(err, ErrUndecodable) {
				t.Fatalf("err = %v, want ErrUndecodable", err)
			}
		})
	}
}

// Subjects are BACKWARD compatible. On a real registry (testenv.RegistryURL) an
// incompatible new version is refused; srfake does not check compatibility, so there the test
// checks the subject's configured level.
func TestSubjectsAreBackwardCompatible(t *testing.T) {
	ctx := context.Background()
	c, cl := newCodec(t), (*sr.Client)(nil)
	if real := testenv.RegistryClient(t); real != nil {
		cl, c = real, NewCodec(real)
	} else {
		cl = c.reg.(*sr.Client)
	}
	topic := fmt.Sprintf("compat-%d", time.Now().UnixNano())
	if _, err := c.Register(ctx, topic, NameOrderRequested); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, topic, NameOrderRequested); err != nil {
		t.Fatalf("registering the same schema again: %v", err)
	}
	for _, res := range cl.Compatibility(ctx, Subject(topic)) {
		if res.Err != nil || res.Level != sr.CompatBackward {
			t.Fatalf("compatibility of %s: %v %v, want BACKWARD", Subject(topic), res.Level, res.Err)
		}
	}
	if testenv.RegistryURL() != "" {
		if _, err := c.Register(ctx, topic, NameOrderStatus); err == nil {
			t.Fatal("the registry accepted an incompatible schema under a BACKWARD subject")
		}
	}
}
