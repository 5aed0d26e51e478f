package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// ErrUndecodable marks a record that is not a valid Confluent-framed Avro value of the
// expected schema: callers dead-letter it with its raw bytes instead of retrying.
var ErrUndecodable = errors.New("undecodable record")

// ErrNotRegistered marks a schema Lookup did not find under its subject: a registry that
// orderflow may only read must have every schema registered beforehand. The message names the
// subject.
var ErrNotRegistered = errors.New("schema not registered")

// ErrRefused marks a request the registry refused for who made it: HTTP 401 (no or wrong
// credentials) or 403 (not permitted, such as registering with a read-only key). Retrying
// can not help. The message carries the status and the registry's message, never credentials.
var ErrRefused = errors.New("schema registry refused the request")

// Registry is the part of a schema registry client the Codec needs; *sr.Client implements it.
type Registry interface {
	CreateSchema(ctx context.Context, subject string, s sr.Schema) (sr.SubjectSchema, error)
	LookupSchema(ctx context.Context, subject string, s sr.Schema) (sr.SubjectSchema, error)
	SchemaByID(ctx context.Context, id int) (sr.Schema, error)
	SetCompatibility(ctx context.Context, compat sr.SetCompatibility, subjects ...string) []sr.CompatibilityResult
}

// Codec encodes orderflow's records with the schema ids registered for their topics and
// decodes records written with any schema id the registry knows (for example by an
// independent producer using a newer compatible version).
type Codec struct {
	reg Registry

	mu      sync.RWMutex
	writers map[string]writer // topic -> writer schema
	readers map[int]reader    // schema id -> codec
}

type reader struct {
	name  Name // the record's full name, checked against what the caller expects
	codec *goavro.Codec
}

type writer struct {
	id    int
	name  Name
	codec *goavro.Codec
}

// NewCodec returns a Codec that looks schema ids up in reg.
//
// It caps goavro's process-wide goavro.MaxBlockCount at MaxBlockCount (once, before any Codec
// decodes): goavro allocates an array or map block's claimed count up front, so a 22-byte record
// claiming 2^31-1 items would otherwise take the process down with a fatal out-of-memory error,
// which no recover can catch.
func NewCodec(reg Registry) *Codec {
	capBlockCount.Do(func() { goavro.MaxBlockCount = min(goavro.MaxBlockCount, MaxBlockCount) })
	return &Codec{reg: reg, writers: map[string]writer{}, readers: map[int]reader{}}
}

// MaxBlockCount is the most items one Avro array or map block may claim when decoded (goavro
// writes an array in one block): far above any order's item count limit, and at most 16 MiB
// allocated for a hostile claim.
const MaxBlockCount = 1 << 20

var capBlockCount sync.Once

// Subject is the registry subject of a topic's values (Confluent's TopicNameStrategy).
func Subject(topic string) string { return topic + "-value" }

// Register registers schema n under the topic's subject and uses it to write to topic.
// Registering the same schema again is a no-op at the registry and returns the same id.
func (c *Codec) Register(ctx context.Context, topic string, n Name) (int, error) {
	src, codec, err := compile(n)
	if err != nil {
		return 0, err
	}
	// BACKWARD before registering: a new version must read what older ones wrote, whatever
	// the registry's default (Apicurio's is NONE).
	for _, res := range c.reg.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatBackward}, Subject(topic)) {
		if res.Err != nil {
			return 0, fmt.Errorf("setting BACKWARD compatibility on %s: %w", Subject(topic), refused(res.Err))
		}
	}
	ss, err := c.reg.CreateSchema(ctx, Subject(topic), sr.Schema{Schema: src, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("registering %s for topic %s: %w", n, topic, refused(err))
	}
	c.use(topic, n, ss.ID, codec)
	return ss.ID, nil
}

// Lookup finds schema n among the versions registered under the topic's subject and uses it to
// write to topic, writing nothing to the registry (POST /subjects/{subject}, which a read-only
// key may do). A subject or schema the registry does not have is ErrNotRegistered; the
// subject's compatibility is left as whoever registered it set it.
func (c *Codec) Lookup(ctx context.Context, topic string, n Name) (int, error) {
	src, codec, err := compile(n)
	if err != nil {
		return 0, err
	}
	ss, err := c.reg.LookupSchema(ctx, Subject(topic), sr.Schema{Schema: src, Type: sr.TypeAvro})
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return 0, fmt.Errorf("%w: %s is not registered under subject %s (register it, or run once with a key that may write)", ErrNotRegistered, n, Subject(topic))
		}
		return 0, fmt.Errorf("looking up %s under subject %s: %w", n, Subject(topic), refused(err))
	}
	c.use(topic, n, ss.ID, codec)
	return ss.ID, nil
}

func compile(n Name) (string, *goavro.Codec, error) {
	src, err := Source(n)
	if err != nil {
		return "", nil, err
	}
	codec, err := goavro.NewCodec(src)
	if err != nil {
		return "", nil, fmt.Errorf("compiling schema %s: %w", n, err)
	}
	return src, codec, nil
}

// use makes schema id (n) the writer schema of topic.
func (c *Codec) use(topic string, n Name, id int, codec *goavro.Codec) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writers[topic] = writer{id: id, name: n, codec: codec}
	c.readers[id] = reader{name: n, codec: codec}
}

// refused wraps a 401 or 403 answer in ErrRefused; other errors are returned as they are.
func refused(err error) error {
	var re *sr.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized && re.StatusCode != http.StatusForbidden {
		return err
	}
	msg := re.Message
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if msg == "" {
		return fmt.Errorf("%w: HTTP %d %s", ErrRefused, re.StatusCode, http.StatusText(re.StatusCode))
	}
	return fmt.Errorf("%w: HTTP %d %s: %s", ErrRefused, re.StatusCode, http.StatusText(re.StatusCode), msg)
}

// Record is one of this package's record types: OrderRequested, OrderStatus, OrderFailure, DeadLetter, Tracking, ReplayAudit.
type Record interface{ native() map[string]any }

// Encode writes v (one of this package's record types) for topic.
func (c *Codec) Encode(topic string, v Record) ([]byte, error) {
	c.mu.RLock()
	w, ok := c.writers[topic]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("encoding for topic %s: no schema registered", topic)
	}
	var h sr.ConfluentHeader
	b, err := h.AppendEncode(make([]byte, 0, 256), w.id, nil)
	if err != nil {
		return nil, err
	}
	b, err = w.codec.BinaryFromNative(b, v.native())
	if err != nil {
		return nil, fmt.Errorf("encoding %s for topic %s: %w", w.name, topic, err)
	}
	return b, nil
}

// decode returns the native form of a framed value of record type want, fetching unknown schema ids.
func (c *Codec) decode(ctx context.Context, b []byte, want Name) (any, error) {
	var h sr.ConfluentHeader
	id, body, err := h.DecodeID(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
	}
	r, err := c.reader(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.name != want {
		return nil, fmt.Errorf("%w: schema id %d is %s, want %s", ErrUndecodable, id, r.name, want)
	}
	v, rest, err := r.codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %v", ErrUndecodable, id, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrUndecodable, len(rest))
	}
	return v, nil
}

func (c *Codec) reader(ctx context.Context, id int) (reader, error) {
	c.mu.RLock()
	r, ok := c.readers[id]
	c.mu.RUnlock()
	if ok {
		return r, nil
	}
	s, err := c.reg.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == 404 {
			return reader{}, fmt.Errorf("%w: unknown schema id %d", ErrUndecodable, id)
		}
		if re != nil && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != 408 && re.StatusCode != 429 &&
			re.StatusCode != http.StatusUnauthorized && re.StatusCode != http.StatusForbidden {
			// The registry refuses the id itself (negative, malformed): asking again can not help.
			return reader{}, fmt.Errorf("%w: schema id %d refused by the registry: %v", ErrUndecodable, id, err)
		}
		// 401 and 403 too: the record is fine, the credentials are not (rotated, say); it waits.
		return reader{}, fmt.Errorf("fetching schema id %d: %w", id, refused(err))
	}
	codec, err := goavro.NewCodec(s.Schema)
	if err != nil {
		return reader{}, fmt.Errorf("%w: schema id %d does not compile: %v", ErrUndecodable, id, err)
	}
	var top struct{ Name, Namespace string }
	_ = json.Unmarshal([]byte(s.Schema), &top)
	full := top.Name
	if top.Namespace != "" && !strings.Contains(full, ".") {
		full = top.Namespace + "." + full
	}
	r = reader{name: Name(full), codec: codec}
	c.mu.Lock()
	c.readers[id] = r
	c.mu.Unlock()
	return r, nil
}

// DecodeOrderRequested decodes an OrderRequested value.
func (c *Codec) DecodeOrderRequested(ctx context.Context, b []byte) (OrderRequested, error) {
	v, err := c.decode(ctx, b, NameOrderRequested)
	if err != nil {
		return OrderRequested{}, err
	}
	o := orderRequestedFrom(v)
	if o.OrderID == "" {
		return o, fmt.Errorf("%w: order_id is empty", ErrUndecodable)
	}
	return o, nil
}

// DecodeOrderStatus decodes an OrderStatus value.
func (c *Codec) DecodeOrderStatus(ctx context.Context, b []byte) (OrderStatus, error) {
	v, err := c.decode(ctx, b, NameOrderStatus)
	return orderStatusFrom(v), err
}

// DecodeOrderFailure decodes an OrderFailure value.
func (c *Codec) DecodeOrderFailure(ctx context.Context, b []byte) (OrderFailure, error) {
	v, err := c.decode(ctx, b, NameOrderFailure)
	return orderFailureFrom(v), err
}

// DecodeDeadLetter decodes a DeadLetter value.
func (c *Codec) DecodeDeadLetter(ctx context.Context, b []byte) (DeadLetter, error) {
	v, err := c.decode(ctx, b, NameDeadLetter)
	return deadLetterFrom(v), err
}

// DecodeTracking decodes a Tracking value.
func (c *Codec) DecodeTracking(ctx context.Context, b []byte) (Tracking, error) {
	v, err := c.decode(ctx, b, NameTracking)
	return trackingFrom(v), err
}

// DecodeReplayAudit decodes a ReplayAudit value.
func (c *Codec) DecodeReplayAudit(ctx context.Context, b []byte) (ReplayAudit, error) {
	v, err := c.decode(ctx, b, NameReplayAudit)
	return replayAuditFrom(v), err
}
