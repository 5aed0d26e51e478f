// Package idempotency is the Redis-held record of every order attempt: which cart it created,
// how far submission got, who may act on it, and how it ended.
//
// One hash per (order id, attempt) moves through
//
//	reserved -> cart_created -> submitting -> submitted -> terminal
//
// by compare-and-set Lua scripts. Acquire hands out a lease with a fencing token; every later
// transition names the token, so a zombie worker whose lease was taken over after a rebalance
// fails with ErrFenced instead of acting. The cart id is written (cart_created) before the
// cart is submitted, so a redelivery resumes with the same cart instead of creating another,
// and a record found in "submitting" means the submit answer was lost: the caller must poll
// the provider, never submit blindly.
package idempotency

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/coalesce"
)

// State is where an order attempt stands.
type State string

const (
	StateNone        State = ""
	StateReserved    State = "reserved"
	StateCartCreated State = "cart_created"
	StateSubmitting  State = "submitting"
	StateSubmitted   State = "submitted"
	StateTerminal    State = "terminal"
)

// Errors callers branch on.
var (
	// ErrFenced: the caller's lease was taken over; it must stop acting on this attempt.
	ErrFenced = errors.New("idempotency: fenced by a newer lease")
	// ErrBusy: another live worker holds the lease; try again after it expires.
	ErrBusy = errors.New("idempotency: lease held by another worker")
	// ErrConflict: the same order attempt was requested with a different payload.
	ErrConflict = errors.New("idempotency: same order attempt, different payload")
	// ErrState: the record is not in a state the transition accepts.
	ErrState = errors.New("idempotency: unexpected state")
	// ErrUnavailable wraps every Redis failure: callers fail closed and retry later.
	ErrUnavailable = errors.New("idempotency: store unavailable")
)

// Record is the stored view of one order attempt.
type Record struct {
	Key         string
	State       State
	Fingerprint string
	CartID      string
	Fence       int64
	Owner       string
	Chain       int64  // the live tracking chain (see processor)
	Outcome     string // terminal outcome: placed, dead_lettered, needs_attention, failed...
	OutcomeData []byte // the stored event(s) to re-emit for a duplicate
	Submits     int    // how many times a submit was started (audit)
}

// Config configures a Store.
type Config struct {
	// Prefix of every key: the deployment's Redis namespace. Two deployments sharing a Redis
	// need different prefixes (service.RedisPrefix derives one from the topic prefix).
	// Default "orderflow".
	Prefix string
	// Lease is how long an Acquire or transition holds the attempt. Default 60s.
	Lease time.Duration
	// TTL is how long a record lives after its last change. It must outlast the replay
	// horizon (how long after a failure an engineer may still replay it). Default 30 days.
	TTL time.Duration
}

// WithDefaults returns c with the fields not set at their defaults.
func (c Config) WithDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "orderflow"
	}
	if c.Lease == 0 {
		c.Lease = 60 * time.Second
	}
	if c.TTL == 0 {
		c.TTL = 30 * 24 * time.Hour
	}
	return c
}

// Validate checks the config (after WithDefaults); it changes nothing.
func (c Config) Validate() error {
	if c.Prefix == "" {
		return errors.New("idempotency: no key prefix")
	}
	if c.Lease <= 0 || c.TTL < c.Lease {
		return fmt.Errorf("idempotency: lease %v and ttl %v: need 0 < lease <= ttl", c.Lease, c.TTL)
	}
	return nil
}

// Store is the Redis-backed idempotency and outcome store. It is safe for concurrent use.
type Store struct {
	rdb redis.UniversalClient
	cfg Config
	// gets reads the attempts Get is asked for at the same moment in one pipeline (the
	// tracker reads one per poll, many at once under load).
	gets *coalesce.Batcher[string, readResult]
}

// readResult is one attempt hash read in a batch of Gets.
type readResult struct {
	m   map[string]string
	err error
}

// getBatch is how many attempts one pipelined read carries at most, and getTimeout bounds it.
const (
	getBatch   = 128
	getTimeout = 5 * time.Second
)

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("idempotency: nil redis client")
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{rdb: rdb, cfg: cfg}
	s.gets = coalesce.New(getBatch, getTimeout, s.readHashes)
	return s, nil
}

// readHashes reads the hashes of keys in one pipeline. Each read carries its own error: go-redis
// sets a transport failure on every command of the pipeline, a key's own error (a wrong type)
// on its command alone.
func (s *Store) readHashes(ctx context.Context, keys []string) ([]readResult, error) {
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	})
	out := make([]readResult, len(keys))
	for i, c := range cmds {
		out[i].m, out[i].err = c.Result()
	}
	return out, nil
}

// Prefix is the prefix of every key of this store.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// Key is the Redis key of an order attempt.
func (s *Store) Key(orderID string, attempt int) string {
	return fmt.Sprintf("%s:attempt:{%s}:%d", s.cfg.Prefix, orderID, attempt)
}

//go:embed acquire.lua
var acquireSrc string

//go:embed transition.lua
var transitionSrc string

//go:embed finish.lua
var finishSrc string

var (
	acquireScript    = redis.NewScript(acquireSrc)
	transitionScript = redis.NewScript(transitionSrc)
	finishScript     = redis.NewScript(finishSrc)
)

// LoadScripts puts the store's scripts into Redis's script cache. Without it every call in
// flight at a busy start is answered NOSCRIPT and sent again as EVAL, script included (the
// bench counted 1.2 extra round trips per order over 2,000 orders); a script the cache loses
// later (a restart, SCRIPT FLUSH) is still reloaded by its next call.
func (s *Store) LoadScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{acquireScript, transitionScript, finishScript, setOutcomeScript, allocateScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("loading the idempotency scripts: %w", err)
		}
	}
	return nil
}

// Acquire takes the lease on an order attempt, creating the record in state reserved if it is
// new. A terminal record is returned without a lease (Fence 0): the caller re-emits its
// outcome. It fails with ErrConflict if the attempt exists with another fingerprint and with
// ErrBusy if another owner's lease is still live.
func (s *Store) Acquire(ctx context.Context, orderID string, attempt int, fingerprint, owner string) (Record, error) {
	key := s.Key(orderID, attempt)
	res, err := acquireScript.Run(ctx, s.rdb, []string{key}, fingerprint, owner, s.cfg.Lease.Milliseconds(), s.cfg.TTL.Milliseconds()).Slice()
	if err != nil {
		return Record{}, s.scriptErr("acquiring "+key, err)
	}
	return parse(key, res)
}

// Change is what a transition stores besides the new state. Empty fields are left as they are.
type Change struct {
	CartID      string
	Chain       int64
	Outcome     string
	OutcomeData []byte
	// Release ends the lease with the transition: the caller hands the attempt to another
	// role (tracker, reconciler, a later retry). A move to StateTerminal always releases.
	Release bool
}

// Transition moves the attempt from one of from to to, if r.Fence is still the live lease,
// and returns the updated record (keeping r.Fence). A move to StateSubmitting counts a submit.
func (s *Store) Transition(ctx context.Context, r Record, to State, c Change, from ...State) (Record, error) {
	lease := s.cfg.Lease.Milliseconds()
	if c.Release || to == StateTerminal {
		lease = 0
	}
	args := []any{r.Fence, string(to), lease, s.cfg.TTL.Milliseconds(),
		c.CartID, c.Chain, c.Outcome, string(c.OutcomeData)}
	for _, f := range from {
		args = append(args, string(f))
	}
	res, err := transitionScript.Run(ctx, s.rdb, []string{r.Key}, args...).Slice()
	if err != nil {
		return Record{}, s.scriptErr(fmt.Sprintf("moving %s to %s", r.Key, to), err)
	}
	out, err := parse(r.Key, res)
	out.Fence = r.Fence
	return out, err
}

// Finish ends the attempt r was read as (Get: submitted under tracking chain r.Chain) in one call: Acquire and
// Transition(to StateTerminal, with c's outcome) merged, for a caller that makes no provider
// call between them. It fails with ErrState if the attempt is missing, not submitted or
// submitted under another chain, ErrConflict for another fingerprint and ErrBusy while another
// owner's lease is live; then nothing changed. The returned record holds the lease's fence,
// already released.
func (s *Store) Finish(ctx context.Context, r Record, fingerprint, owner string, c Change) (Record, error) {
	key := r.Key
	res, err := finishScript.Run(ctx, s.rdb, []string{key}, fingerprint, owner, s.cfg.TTL.Milliseconds(), r.Chain, c.Outcome, string(c.OutcomeData)).Slice()
	if err != nil {
		return Record{}, s.scriptErr("finishing "+key, err)
	}
	return parse(key, res)
}

// SetOutcome replaces the stored outcome of a terminal attempt (the reconciler records how a
// failed attempt ended: dead-lettered, replaced...). It fails with ErrState if the attempt is
// not terminal.
func (s *Store) SetOutcome(ctx context.Context, orderID string, attempt int, outcome string, data []byte) error {
	key := s.Key(orderID, attempt)
	n, err := setOutcomeScript.Run(ctx, s.rdb, []string{key}, outcome, string(data)).Int()
	if err != nil {
		return fmt.Errorf("setting outcome of %s: %w: %v", key, ErrUnavailable, err)
	}
	if n == 0 {
		return fmt.Errorf("setting outcome of %s: %w", key, ErrState)
	}
	return nil
}

var setOutcomeScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'state') ~= 'terminal' then return 0 end
redis.call('HSET', KEYS[1], 'outcome', ARGV[1], 'outcome_data', ARGV[2])
return 1`)

// AllocateAttempt returns the attempt number for a replacement identified by reason (for
// example the failure event that caused it). The same reason always gets the same number, so
// a redelivered failure can not create a second replacement cart; a new reason gets the next
// number above every number handed out and above floor.
func (s *Store) AllocateAttempt(ctx context.Context, orderID, reason string, floor int) (int, error) {
	key := fmt.Sprintf("%s:attempts:{%s}", s.cfg.Prefix, orderID)
	n, err := allocateScript.Run(ctx, s.rdb, []string{key}, reason, floor, s.cfg.TTL.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("allocating an attempt of %s: %w: %v", orderID, ErrUnavailable, err)
	}
	return n, nil
}

var allocateScript = redis.NewScript(`
local got = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if got then return tonumber(got) end
local n = math.max(tonumber(redis.call('HGET', KEYS[1], 'next') or '0'), tonumber(ARGV[2])) + 1
redis.call('HSET', KEYS[1], 'next', n, 'r:' .. ARGV[1], n)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n`)

// AppendHistory appends one entry (opaque bytes, JSON by convention) to the order's history,
// which outlives attempts and feeds dead letters.
func (s *Store) AppendHistory(ctx context.Context, orderID string, entry []byte) error {
	key := s.historyKey(orderID)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, entry)
		p.PExpire(ctx, key, s.cfg.TTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending history of %s: %w: %v", orderID, ErrUnavailable, err)
	}
	return nil
}

// History returns the order's history entries, oldest first.
func (s *Store) History(ctx context.Context, orderID string) ([][]byte, error) {
	vals, err := s.rdb.LRange(ctx, s.historyKey(orderID), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("reading history of %s: %w: %v", orderID, ErrUnavailable, err)
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		out[i] = []byte(v)
	}
	return out, nil
}

func (s *Store) historyKey(orderID string) string {
	return fmt.Sprintf("%s:history:{%s}", s.cfg.Prefix, orderID)
}

// Get reads an attempt without taking a lease; a missing attempt has StateNone. Gets made at the
// same moment share one pipelined round trip.
func (s *Store) Get(ctx context.Context, orderID string, attempt int) (Record, error) {
	key := s.Key(orderID, attempt)
	r, err := s.gets.Do(ctx, key)
	if err == nil {
		err = r.err
	}
	m := r.m
	if err != nil {
		return Record{}, fmt.Errorf("reading %s: %w: %v", key, ErrUnavailable, err)
	}
	return fromHash(key, m), nil
}

// Ping reports whether Redis answers; the worker gates new work on it (fail closed).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}

func (s *Store) scriptErr(what string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "ERR ") // miniredis prefixes script errors
	switch {
	case hasPrefix(msg, "FENCED"):
		return fmt.Errorf("%s: %w", what, ErrFenced)
	case hasPrefix(msg, "BUSY"):
		return fmt.Errorf("%s: %w", what, ErrBusy)
	case hasPrefix(msg, "CONFLICT"):
		return fmt.Errorf("%s: %w", what, ErrConflict)
	case hasPrefix(msg, "STATE"):
		return fmt.Errorf("%s: %w (%s)", what, ErrState, msg)
	}
	return fmt.Errorf("%s: %w: %v", what, ErrUnavailable, err)
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// parse reads the flat field/value list the scripts return (HGETALL form).
func parse(key string, res []any) (Record, error) {
	m := make(map[string]string, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		k, _ := res[i].(string)
		v, _ := res[i+1].(string)
		m[k] = v
	}
	return fromHash(key, m), nil
}

func fromHash(key string, m map[string]string) Record {
	atoi := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	return Record{
		Key: key, State: State(m["state"]), Fingerprint: m["fp"], CartID: m["cart_id"],
		Fence: atoi(m["fence"]), Owner: m["owner"], Chain: atoi(m["chain"]),
		Outcome: m["outcome"], OutcomeData: []byte(m["outcome_data"]), Submits: int(atoi(m["submits"])),
	}
}
