package due_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/due"
)

func TestAtOf(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		want    time.Time
	}{
		{"no header", nil, time.Time{}},
		{"written by At", []kgo.RecordHeader{{Key: "traceparent", Value: []byte("x")}, due.At(at)}, at},
		{"unreadable", []kgo.RecordHeader{{Key: due.Header, Value: []byte("soon")}}, time.Time{}},
		{"first readable wins", []kgo.RecordHeader{{Key: due.Header, Value: []byte("soon")}, due.At(at), due.At(at.Add(time.Hour))}, at},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := due.Of(&kgo.Record{Headers: tc.headers}); !got.Equal(tc.want) {
				t.Errorf("Of = %v, want %v", got, tc.want)
			}
		})
	}
	if h := due.At(at); h.Key != "orderflow-due-ms" || string(h.Value) != "1700000000123" {
		t.Errorf("At = %s=%s, want orderflow-due-ms=1700000000123", h.Key, h.Value)
	}
}
