package digitalriver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/orderflow/orderflow/provider"
)

const fuzzSecret = "sk_fuzz_secret"

// FuzzClassify feeds raw error answers to classify and checks the invariants the processor relies
// on: a valid class, POST /orders never classified retryable (that would risk a second charge),
// the seed's 409/404/5xx rules, a bounded clean message and no secret.
func FuzzClassify(f *testing.F) {
	seeds := []struct {
		status int
		body   string
		ra     string
	}{
		{409, `{"type":"conflict","errors":[{"code":"failed-request","parameter":"","message":"charge declined: insufficient funds"}]}`, ""},
		{400, `{"type":"bad_request","errors":[{"code":"order_create_failed","parameter":"shipTo","message":"tax"}]}`, ""},
		{404, `{"type":"not_found","errors":[{"code":"resource-not-found","parameter":"checkoutId","message":"gone"}]}`, ""},
		{429, `{"type":"too_many_requests","errors":[]}`, "2"},
		{429, ``, "Wed, 21 Oct 2015 07:28:00 GMT"},
		{504, `{"type":"request_timeout","errors":[{"code":"request-timeout"}]}`, ""},
		{500, `<html>` + fuzzSecret + `</html>`, ""},
		{400, `{"type":"bad_request","errors":[{"code":"` + fuzzSecret + `","message":"\u0000\n` + fuzzSecret + `"}]}`, ""},
		{418, `{"type":1}`, "-5"},
		{302, `null`, ""},
	}
	for _, s := range seeds {
		for k := kindCreate; k <= kindRead; k++ {
			f.Add(s.status, uint8(k), []byte(s.body), s.ra)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, k uint8, body []byte, ra string) {
		if status < 100 || status > 999 {
			t.Skip()
		}
		kind := opKind(k%5) + kindCreate
		h := http.Header{"Retry-After": {ra}, RequestIDHeader: {"req_" + fuzzSecret}}
		e := classify("op", kind, status, h, body, now, fuzzSecret)
		if e.Class < provider.ClassRetryable || e.Class > provider.ClassAlreadySubmitted {
			t.Fatalf("invalid class %v", e.Class)
		}
		if e.HTTPStatus != status || e.Op != "op" {
			t.Fatalf("status/op not kept: %+v", *e)
		}
		for _, s := range []string{e.Error(), e.Code, e.RequestID} {
			if strings.Contains(s, fuzzSecret) {
				t.Fatalf("secret leaked: %q", s)
			}
			if !utf8.ValidString(s) || len(s) > maxMessageLen+len(e.Op)+len(e.Code)+64 {
				t.Fatalf("unclean or unbounded text %q", s)
			}
		}
		if e.Class == provider.ClassRateLimited {
			if status != 429 || e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
				t.Fatalf("rate limit %+v", *e)
			}
		}
		if kind == kindSubmit {
			switch {
			case e.Class == provider.ClassRetryable:
				t.Fatalf("POST /orders answer %d classified retryable: a retry could charge twice", status)
			case status == 409 && (e.Class != provider.ClassNotRetryable || e.Action != provider.ActionNewCheckout):
				t.Fatalf("409 -> %+v", *e)
			case status == 404 && e.Class != provider.ClassAlreadySubmitted:
				t.Fatalf("404 -> %+v", *e)
			case status >= 500 && e.Class != provider.ClassOutcomeUnknown:
				t.Fatalf("%d -> %+v", status, *e)
			}
		} else if status >= 500 && status < 600 && e.Class != provider.ClassRetryable {
			t.Fatalf("%d on a request that charges nothing -> %+v", status, *e)
		}
	})
}

// FuzzPlacement feeds raw GET /orders answers to the decoder and the state-to-event mapping.
func FuzzPlacement(f *testing.F) {
	for _, s := range []string{
		`{"data":[]}`,
		`{"data":[{"id":"ord_1","checkoutId":"chk_1","state":"pending_payment","totalAmount":19.99,"items":[{"skuId":"A","quantity":1,"price":19.99}],"createdTime":"2026-01-01T00:00:00Z"}]}`,
		`{"data":[{"id":"ord_1","checkoutId":"chk_1","state":"accepted","updatedTime":"2026-01-01T00:00:01Z"}]}`,
		`{"data":[{"id":"ord_1","checkoutId":"chk_1","state":"blocked","charges":[{"id":"c","amount":1,"state":"cancelled"}]}]}`,
		`{"data":[{"id":"ord_1","state":"in_review"},{"id":"ord_2","state":"failed"}],"hasMore":true}`,
		`{"data":[{"id":"ord_1","state":"weird","totalAmount":1e400}]}`,
		`{"data":null}`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var list orderList
		if err := json.Unmarshal(body, &list); err != nil {
			return
		}
		p := placementOf("chk_1", list.Data)
		if p.CartID != "chk_1" || len(p.Orders) == 0 || (len(list.Data) > 0 && len(p.Orders) != len(list.Data)) {
			t.Fatalf("placement %+v for %d orders", p, len(list.Data))
		}
		for i, op := range p.Orders {
			if op.Merchant != Name {
				t.Fatalf("merchant %q", op.Merchant)
			}
			phase := op.Phase()
			if len(list.Data) == 0 {
				if phase != provider.PhaseNotStarted {
					t.Fatalf("no order but phase %v", phase)
				}
				continue
			}
			state := list.Data[i].State
			want := provider.PhaseStarted
			switch {
			case placedStates[state]:
				want = provider.PhasePlaced
			case failedStates[state]:
				want = provider.PhaseFailed
				if f, ok := op.Failure(); !ok || f.ReasonCode != state || f.Retryable == nil || *f.Retryable {
					t.Fatalf("failure event %+v for state %q", f, state)
				}
			}
			if phase != want {
				t.Fatalf("state %q -> phase %v, want %v", state, phase, want)
			}
			if op.Events[0].Type != provider.EventSubmissionStarted {
				t.Fatalf("first event %+v", op.Events[0])
			}
		}
	})
}
