package processor

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/consumer"
	"github.com/orderflow/orderflow/schemas"
)

// downRegistry is a schema registry that can not be reached.
type downRegistry struct{}

func (downRegistry) CreateSchema(context.Context, string, sr.Schema) (sr.SubjectSchema, error) {
	return sr.SubjectSchema{}, errors.New("registry down")
}
func (downRegistry) LookupSchema(context.Context, string, sr.Schema) (sr.SubjectSchema, error) {
	return sr.SubjectSchema{}, errors.New("registry down")
}
func (downRegistry) SchemaByID(context.Context, int) (sr.Schema, error) {
	return sr.Schema{}, errors.New("registry down")
}
func (downRegistry) SetCompatibility(context.Context, sr.SetCompatibility, ...string) []sr.CompatibilityResult {
	return nil
}

// TestUndecodableRecordsDeadLetter: every role marks a record that is no valid record of its
// schema Permanent with "decoding <what>: ...", and the engine's dead-letter path parks it with
// that reason, its raw bytes, rule unprocessable-record and action fix-record; nothing else
// happens. A decode that fails because the registry is unreachable is transient instead.
func TestUndecodableRecordsDeadLetter(t *testing.T) {
	h := newHarness(t, nil, nil)
	topo := h.cfg.Topology
	for _, tc := range []struct {
		role    string
		handler consumer.Handler
		topic   string
		what    string
	}{
		{"worker", h.worker, topo.Requests(), "decoding order request: "},
		{"tracker", h.tracker, topo.Tracking(), "decoding tracking record: "},
		{"reconciler", h.reconciler, topo.Failures(), "decoding failure event: "},
	} {
		t.Run(tc.role, func(t *testing.T) {
			h.dead, h.statuses, h.queue = nil, nil, nil
			raw := []byte{0, 0, 0, 0, 9, 0xff} // framed, but no schema id 9
			r := &kgo.Record{Topic: tc.topic, Partition: 2, Offset: 7, Key: []byte("o-1"), Value: raw}
			err := tc.handler.Handle(context.Background(), r)
			if !consumer.IsPermanent(err) || !errors.Is(err, schemas.ErrUndecodable) || !strings.HasPrefix(err.Error(), tc.what) {
				t.Fatalf("Handle = %v, want a permanent %q... wrapping schemas.ErrUndecodable", err, tc.what)
			}
			if len(h.statuses) != 0 || len(h.queue) != 0 || len(h.dead) != 0 {
				t.Fatalf("the role acted on an undecodable record: %d statuses, %d records, %d dead letters",
					len(h.statuses), len(h.queue), len(h.dead))
			}
			if err := DeadLetterer(h.cfg)(context.Background(), r, err); err != nil {
				t.Fatal(err)
			}
			if len(h.dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(h.dead))
			}
			dl := h.dead[0]
			if dl.Reason != err.Error() || dl.Rule != RuleUnprocessable || dl.Action != ActionFixRecord ||
				!bytes.Equal(dl.RawValue, raw) || string(dl.RawKey) != "o-1" || dl.SourceTopic != tc.topic ||
				dl.SourcePartition != 2 || dl.SourceOffset != 7 || dl.DeadLetterID != "raw/"+tc.topic+"/2/7" || dl.Request != nil {
				t.Errorf("dead letter %+v: want the reason %q, rule %s, action %s, the raw record and its source",
					dl, err, RuleUnprocessable, ActionFixRecord)
			}
		})
	}

	t.Run("registry unreachable is transient", func(t *testing.T) {
		cfg := *h.cfg
		cfg.Codec = schemas.NewCodec(downRegistry{})
		roles, err := NewRoles(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = roles.Worker.Handle(context.Background(), &kgo.Record{Topic: topo.Requests(), Value: []byte{0, 0, 0, 0, 9, 0xff}})
		if err == nil || consumer.IsPermanent(err) || errors.Is(err, schemas.ErrUndecodable) {
			t.Fatalf("Handle = %v, want a transient error", err)
		}
	})
}
