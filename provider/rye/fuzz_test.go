package rye_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/rye"
)

const (
	fuzzKey   = "sk_fuzz_KEY_abcdef"
	fuzzToken = "tok_fuzz_SECRET_1234"
)

// cannedTransport answers every request with one fixed response.
type cannedTransport struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: c.status, Header: c.header.Clone(), Body: io.NopCloser(bytes.NewReader(c.body)),
		Request: r, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

func cannedClient(t testing.TB, status int, ratelimitReset string, body []byte) *rye.Client {
	h := http.Header{"Content-Type": {"application/json"}}
	if ratelimitReset != "" {
		h.Set("Ratelimit-Reset", ratelimitReset)
	}
	c, err := rye.New(rye.Config{
		BaseURL: "http://rye.invalid", APIKey: fuzzKey,
		HTTPClient: &http.Client{Transport: cannedTransport{status: status, header: h, body: body}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkError asserts the invariants every classified error obeys.
func checkError(t *testing.T, op string, status int, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
	}
	if pe.Class < provider.ClassRetryable || pe.Class > provider.ClassAlreadySubmitted || pe.Op != op {
		t.Fatalf("bad class or op: %+v", pe)
	}
	for _, s := range []string{pe.Error(), pe.Code, pe.RequestID} {
		if strings.Contains(s, fuzzKey) || strings.Contains(s, fuzzToken) {
			t.Fatalf("secret in error: %q", s)
		}
	}
	switch {
	case status == http.StatusTooManyRequests:
		if pe.Class != provider.ClassRateLimited || pe.RetryAfter <= 0 {
			t.Fatalf("429 classified %+v", pe)
		}
	case status >= 500 && op == "submitCart":
		if pe.Class != provider.ClassOutcomeUnknown {
			t.Fatalf("%d on submitCart classified %+v", status, pe)
		}
	case status >= 500:
		if pe.Class != provider.ClassRetryable {
			t.Fatalf("%d on %s classified %+v", status, op, pe)
		}
	}
	switch pe.Class {
	case provider.ClassNotRetryable:
		if pe.Action == provider.ActionNone {
			t.Fatalf("not-retryable without an action: %+v", pe)
		}
	case provider.ClassUnknownRetryability:
		if pe.Action != provider.ActionInvestigate {
			t.Fatalf("unknown retryability without investigate: %+v", pe)
		}
	case provider.ClassRetryable:
		// A 200 answer is retryable only because Rye said so (submitCart never guesses).
		if status == http.StatusOK && op == "submitCart" && (pe.Retryable == nil || !*pe.Retryable) {
			t.Fatalf("retryable without the provider's flag: %+v", pe)
		}
	}
	return pe
}

// amz is an AmazonStore member of SubmitStoreResult.store.
const amz = `"store":{"__typename":"AmazonStore","store":"amazon","cartLines":[]}`

var submitSeeds = []string{
	`{"data":{"submitCart":{"cart":{"id":"c1","stores":[{` + amz + `,"orderId":"o1","requestId":"o1","isSubmitted":true,"status":"COMPLETED","errors":[]}]},"errors":[]}}}`,
	`{"data":{"submitCart":{"cart":{"id":"c1","stores":[{` + amz + `,"orderId":"o1","requestId":"o1","isSubmitted":false,"status":"PAYMENT_FAILED","errors":[{"code":"PAYMENT_FAILED","message":"declined"}]}]},"errors":[]}},"extensions":{"retryable":false}}`,
	`{"data":{"submitCart":{"cart":{"id":"c1","stores":[{` + amz + `,"orderId":"o1","requestId":"o1","isSubmitted":false,"status":null,"errors":[{"code":"SUBMIT_STORE_FAILED","message":"x"}]}]},"errors":[]}}}`,
	`{"data":{"submitCart":{"cart":{"id":"c1","stores":[]},"errors":[{"code":"ALREADY_SUBMITTED","message":"again"}]}},"extensions":{"retryable":false}}`,
	`{"data":{"submitCart":{"cart":{"id":"c1","stores":[{"store":{"__typename":"AmazonStore","store":"amazon","cartLines":[]},"orderId":"a","requestId":"a","isSubmitted":true,"status":"COMPLETED","errors":[]},{"store":{"__typename":"ShopifyStore","store":"b.myshopify.com","cartLines":[]},"orderId":"b","requestId":"b","isSubmitted":false,"status":"FAILED","errors":[{"code":"UPSTREAM_SERVICE_ERROR","message":"x"}]}]},"errors":[]}},"extensions":{"retryable":true}}`,
	`{"data":null,"errors":[{"message":"cart expired","extensions":{"code":"CART_EXPIRED_ERROR"}}],"extensions":{"retryable":false}}`,
	`{"errors":[{"message":"boom","extensions":{"retryable":"maybe"}}]}`,
	`{"data":{"submitCart":null}}`,
	`{"data":{"submitCart":{"cart":{"id":"` + fuzzKey + `"},"errors":[{"code":"` + fuzzToken + `","message":"` + fuzzKey + `"}]}},"extensions":{"retryable":true}}`,
	`upstream request timeout`,
	`{"data":`,
	``,
}

// FuzzSubmitResponse feeds arbitrary submitCart answers to the client: it must never panic,
// and every failure must be a well-formed, secret-free classification.
func FuzzSubmitResponse(f *testing.F) {
	for _, s := range submitSeeds {
		for _, status := range []int{200, 400, 429, 503, 504} {
			f.Add(status, "1", []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, status int, reset string, body []byte) {
		if status < 100 || status > 599 {
			t.Skip()
		}
		c := cannedClient(t, status, reset, body)
		sub, err := c.Submit(context.Background(), provider.SubmitRequest{CartID: "c1", ShopperIP: shopperIP, PaymentRef: fuzzToken})
		if err == nil {
			if status != http.StatusOK || sub.CartID != "c1" || len(sub.Orders) == 0 {
				t.Fatalf("success on HTTP %d: %+v", status, sub)
			}
			return
		}
		checkError(t, "submitCart", status, err)
	})
}

var statusSeeds = []string{
	`{"data":{"checkoutByCartID":{"status":"PENDING","cart":{"id":"c1","stores":[{"__typename":"AmazonStore","store":"amazon","orderId":"o1","requestId":"o1","cartLines":[{"quantity":1,"product":{"id":"B1"}}]}]},"orders":[{"id":"o1","status":"PENDING","requiredActions":[],"events":[]}]}}}`,
	`{"data":{"checkoutByCartID":{"status":"FAILED","cart":{"id":"c1","stores":[{"__typename":"ShopifyStore","store":"x.myshopify.com","orderId":"o1","requestId":"o1","cartLines":[{"quantity":1,"variant":{"id":"44454219743530"}}]}]},"orders":[{"id":"o1","status":"FAILED","requiredActions":[],"events":[` +
		`{"__typename":"OrderSubmissionStartedOrderEvent","id":"e1","createdAt":"2026-01-01T00:00:00Z"},` +
		`{"__typename":"OrderFailedOrderEvent","id":"e2","createdAt":"2026-01-01T00:00:01Z","reason":"r","reasonCode":"OUT_OF_STOCK","retryable":null}]}]}}}`,
	`{"data":{"checkoutByCartID":{"status":"ACTION_REQUIRED","cart":{"id":"c1","stores":[]},"orders":[{"id":"o1","status":"ACTION_REQUIRED","requiredActions":[{"__typename":"CompletePaymentChallenge","redirectURL":"https://x/3ds"}],"events":[{"__typename":"NewFancyEvent","id":"e1","createdAt":"2026-01-01T00:00:00Z"}]}]}}}`,
	`{"data":{"checkoutByCartID":null},"errors":[{"message":"no cart","extensions":{"code":"CART_NOT_FOUND_ERROR"}}]}`,
	`<html>bad gateway</html>`,
}

// FuzzStatusResponse feeds arbitrary checkoutByCartID answers to the client.
func FuzzStatusResponse(f *testing.F) {
	for _, s := range statusSeeds {
		for _, status := range []int{200, 404, 429, 502} {
			f.Add(status, "", []byte(s))
		}
	}
	known := map[string]bool{
		provider.EventSubmissionStarted: true, provider.EventSubmissionSucceeded: true, provider.EventPlaced: true,
		provider.EventFailed: true, provider.EventPaymentSucceeded: true, provider.EventPaymentFailed: true,
		provider.EventPaymentRefunded: true, provider.EventTrackingObtained: true, provider.EventCancelStarted: true,
		provider.EventCancelSucceeded: true, provider.EventCancelFailed: true, provider.EventRefundCreated: true,
	}
	f.Fuzz(func(t *testing.T, status int, reset string, body []byte) {
		if status < 100 || status > 599 {
			t.Skip()
		}
		c := cannedClient(t, status, reset, body)
		p, err := c.Status(context.Background(), "c1")
		if err != nil {
			checkError(t, "checkoutByCartID", status, err)
			return
		}
		if status != http.StatusOK || p.CartID != "c1" {
			t.Fatalf("success on HTTP %d: %+v", status, p)
		}
		for _, o := range p.Orders {
			for _, e := range o.Events {
				if !known[e.Type] {
					t.Fatalf("unknown event type %q accepted", e.Type)
				}
				if e.Type != provider.EventFailed && (e.Retryable != nil || e.ReasonCode != "") {
					t.Fatalf("failure fields on a %s event", e.Type)
				}
			}
			_ = o.Phase().String()
		}
	})
}

// TestCannedClassification pins the classification of representative raw answers.
func TestCannedClassification(t *testing.T) {
	for i, tt := range []struct {
		status int
		body   string
		class  provider.Class
		code   string
		action provider.Action
	}{
		{200, submitSeeds[1], provider.ClassNotRetryable, "PAYMENT_FAILED", provider.ActionNewPaymentMethod},
		{200, submitSeeds[2], provider.ClassUnknownRetryability, "SUBMIT_STORE_FAILED", provider.ActionInvestigate},
		{200, submitSeeds[3], provider.ClassAlreadySubmitted, "ALREADY_SUBMITTED", provider.ActionNone},
		{200, submitSeeds[4], provider.ClassOutcomeUnknown, "UPSTREAM_SERVICE_ERROR", provider.ActionNone}, // partially submitted
		{200, submitSeeds[5], provider.ClassNotRetryable, "CART_EXPIRED_ERROR", provider.ActionNewCart},
		{200, submitSeeds[6], provider.ClassUnknownRetryability, "", provider.ActionInvestigate},
		{200, submitSeeds[7], provider.ClassUnknownRetryability, rye.CodeNotSubmitted, provider.ActionInvestigate},
		{200, submitSeeds[10], provider.ClassOutcomeUnknown, rye.CodeMalformedResponse, provider.ActionNone},
		{504, submitSeeds[9], provider.ClassOutcomeUnknown, "HTTP_504", provider.ActionNone},
		{429, submitSeeds[0], provider.ClassRateLimited, rye.CodeRateLimited, provider.ActionNone},
		{400, submitSeeds[6], provider.ClassUnknownRetryability, "", provider.ActionInvestigate},
	} {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			_, err := cannedClient(t, tt.status, "", []byte(tt.body)).Submit(context.Background(),
				provider.SubmitRequest{CartID: "c1", ShopperIP: shopperIP, PaymentRef: fuzzToken})
			pe := checkError(t, "submitCart", tt.status, err)
			if pe.Class != tt.class || pe.Code != tt.code || pe.Action != tt.action {
				t.Fatalf("got %s %q %q, want %s %q %q (%v)", pe.Class, pe.Code, pe.Action, tt.class, tt.code, tt.action, pe)
			}
		})
	}
}
