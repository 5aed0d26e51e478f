package consumer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/tlsfiles"
)

// The suite runs against a real broker when ORDERFLOW_TEST_BROKERS (comma-separated) is set,
// otherwise against an in-process kfake cluster per test. Topics and groups are unique per
// test and deleted afterwards.

// cluster is the broker a test talks to.
type cluster struct {
	brokers []string
	real    bool
	adm     *kadm.Client
	prod    *kgo.Client
	sasl    []kgo.Opt // the members' SASL options; their TLS is the netSwitch's
}

var (
	testRun = fmt.Sprintf("%d", time.Now().UnixNano())
	names   atomic.Int64
)

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{}
	if env := testenv.Brokers(); env != nil {
		c.brokers, c.real = env, true
	} else {
		fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
		if err != nil {
			t.Fatalf("starting kfake: %v", err)
		}
		t.Cleanup(fake.Close)
		c.brokers = fake.ListenAddrs()
	}
	sasl := testenv.Kafka()
	sasl.TLS = tlsfiles.Config{}
	var err error
	if c.sasl, err = sasl.Opts(); err != nil {
		t.Fatal(err)
	}
	adm, err := kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(c.brokers...))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	c.adm = kadm.NewClient(adm)
	// A short metadata min age: a just-created topic is otherwise retried after 5s.
	c.prod, err = kgo.NewClient(append(testenv.KafkaSecurity(t), kgo.SeedBrokers(c.brokers...), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.prod.Close)
	return c
}

// name returns a topic or group name unique to this run and test.
func name(t *testing.T, what string) string {
	return fmt.Sprintf("consumer-test-%s-%s-%s%d", testRun, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()), what, names.Add(1))
}

// topic creates a topic with n partitions, deleted when the test ends.
func (c *cluster) topic(t *testing.T, n int32) string {
	t.Helper()
	topic := name(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.adm.CreateTopic(ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.adm.DeleteTopics(ctx, topic); err != nil {
			t.Logf("deleting topic %s: %v", topic, err)
		}
	})
	return topic
}

// group returns a group id, deleted when the test ends.
func (c *cluster) group(t *testing.T) string {
	group := name(t, "g")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = c.adm.DeleteGroups(ctx, group)
	})
	return group
}

// produce writes rs (Partition set by the caller) and returns them with offsets.
func (c *cluster) produce(t *testing.T, rs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	return rs
}

// committed reads the group's committed offsets for topic; absent partitions are missing.
func (c *cluster) committed(t *testing.T, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{} // nothing committed yet
	}
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err != nil {
			t.Fatalf("fetching offset of %s/%d: %v", topic, p, o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out
}

// partitionOf spreads keys over n partitions the way a hashing producer would: one key, one
// partition.
func partitionOf(key string, n int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32() % uint32(n))
}

// testConfig is a Config with the short timings tests need. The session timeout is short so a
// crashed member is noticed quickly (the real broker here allows group.min.session.timeout.ms
// = 1000); RevokeTimeout stays well below the rebalance timeout.
func testConfig(c *cluster, group string, topics ...string) Config {
	return Config{
		Brokers:        c.brokers,
		Group:          group,
		Topics:         topics,
		MaxInFlight:    200,
		RevokeTimeout:  3 * time.Second,
		CommitInterval: 100 * time.Millisecond,
		RetryBase:      5 * time.Millisecond,
		RetryMax:       50 * time.Millisecond,
		DeadLetter: func(context.Context, *kgo.Record, error) error {
			return errors.New("unexpected dead letter")
		},
		Opts: append(append([]kgo.Opt(nil), c.sasl...),
			kgo.SessionTimeout(2*time.Second),
			kgo.HeartbeatInterval(200*time.Millisecond),
			kgo.RebalanceTimeout(10*time.Second),
			kgo.FetchMaxWait(500*time.Millisecond),
			kgo.MetadataMinAge(100*time.Millisecond),
		),
	}
}

// member is one running group member.
type member struct {
	name string
	c    *Consumer
	net  *netSwitch
	stop context.CancelFunc
	done chan error
}

// start runs a member until the test ends (or stop / crash).
func start(t *testing.T, name string, cfg Config, h Handler) *member {
	t.Helper()
	tc, err := testenv.Kafka().TLS.Load()
	if err != nil {
		t.Fatal(err)
	}
	m := &member{name: name, net: &netSwitch{tls: tc}, done: make(chan error, 1)}
	cfg.Opts = append(append([]kgo.Opt(nil), cfg.Opts...), kgo.Dialer(m.net.dial))
	if debugLog != nil {
		log := slog.New(slog.NewTextHandler(debugLog, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", name)
		cfg.Logger = log
		cfg.Opts = append(cfg.Opts, kgo.WithLogger(kslogger{log}))
	}
	c, err := New(cfg, h)
	if err != nil {
		t.Fatalf("new consumer %s: %v", name, err)
	}
	m.c = c
	ctx, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	go func() { m.done <- c.Run(ctx) }()
	t.Cleanup(func() { m.shutdown(t) })
	return m
}

// shutdown stops the member the way SIGTERM does (Run's context ends) and waits for Run.
func (m *member) shutdown(t *testing.T) {
	t.Helper()
	m.stop()
	select {
	case err := <-m.done:
		if err != nil {
			t.Errorf("member %s: Run: %v", m.name, err)
		}
		m.done <- nil // later shutdowns return at once
	case <-time.After(30 * time.Second):
		t.Fatalf("member %s: Run did not return 30s after its context ended", m.name)
	}
}

// crash models kill -9 of the member's process: its network is cut first (no request of any
// kind, commit or LeaveGroup, reaches the broker afterwards), then the engine aborts: every
// handler's context is cancelled, nothing is committed or drained, and the client closes
// without leaving the group. The group only notices when the session times out, exactly as
// with a dead process; crash checks that the broker still lists the dead member.
func (m *member) crash(t *testing.T, c *cluster) {
	t.Helper()
	memberID, _ := m.c.Client().GroupMetadata()
	joined := len(m.assignedParts()) > 0 // a full member, not one still pending its first join
	begin := time.Now()
	m.net.sever()
	m.c.abort()
	m.shutdown(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	groups, err := c.adm.DescribeGroups(ctx, m.c.cfg.Group)
	if err != nil {
		t.Fatalf("describing group: %v", err)
	}
	if !joined {
		return // it never joined: nothing to leave
	}
	if time.Since(begin) > time.Second {
		return // too slow to tell a leave from a session expiry (the session is 2s)
	}
	for _, g := range groups {
		for _, gm := range g.Members {
			if gm.MemberID == memberID {
				return
			}
		}
	}
	t.Fatalf("crashed member %s (%s) left the group at once; a killed process can not", m.name, memberID)
}

// assignedParts returns the partitions the engine currently owns.
func (m *member) assignedParts() map[tp]bool {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	out := map[tp]bool{}
	for k := range m.c.parts {
		out[k] = true
	}
	return out
}

// debugLog, when ORDERFLOW_TEST_DEBUG_LOG names a file, receives the engine's and kgo's debug
// logs of every member, for diagnosing a failed randomized run.
var debugLog = func() io.Writer {
	path := os.Getenv("ORDERFLOW_TEST_DEBUG_LOG")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	return f
}()

type kslogger struct{ l *slog.Logger }

func (k kslogger) Level() kgo.LogLevel { return kgo.LogLevelDebug }
func (k kslogger) Log(level kgo.LogLevel, msg string, kv ...any) {
	k.l.Debug("kgo: "+msg, kv...)
}

// netSwitch is a kgo dialer whose connections can all be cut at once.
type netSwitch struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
	tls   *tls.Config // nil: plain TCP
}

func (n *netSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	n.mu.Lock()
	cut := n.cut
	n.mu.Unlock()
	if cut {
		return nil, errors.New("network cut (member crashed)")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	if n.tls != nil { // what kgo.DialTLSConfig would do
		tc := n.tls.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(host)
		}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tconn
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut {
		conn.Close()
		return nil, errors.New("network cut (member crashed)")
	}
	n.conns = append(n.conns, conn)
	return conn, nil
}

func (n *netSwitch) sever() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = true
	for _, c := range n.conns {
		c.Close()
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// handling is one handler call that returned nil.
type handling struct {
	member  string
	topic   string
	part    int32
	offset  int64
	key     string
	value   string
	started time.Time
}

// ledger records what handlers did, across members, and checks that no member ever runs two
// records of one key at once.
type ledger struct {
	mu       sync.Mutex
	done     []handling
	active   map[string]bool // member + key
	overlaps []string
	calls    atomic.Int64
}

func newLedger() *ledger { return &ledger{active: map[string]bool{}} }

// handler wraps work: a nil return is recorded as handled.
func (l *ledger) handler(member string, work func(ctx context.Context, r *kgo.Record) error) Handler {
	return HandlerFunc(func(ctx context.Context, r *kgo.Record) error {
		l.calls.Add(1)
		start := time.Now()
		k := member + "\x00" + string(r.Key)
		l.mu.Lock()
		if l.active[k] {
			l.overlaps = append(l.overlaps, fmt.Sprintf("%s: key %q (offset %d/%d) started while another record of it ran", member, r.Key, r.Partition, r.Offset))
		}
		l.active[k] = true
		l.mu.Unlock()
		err := work(ctx, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.active, k)
		if err == nil {
			l.done = append(l.done, handling{member: member, topic: r.Topic, part: r.Partition, offset: r.Offset,
				key: string(r.Key), value: string(r.Value), started: start})
		}
		return err
	})
}

func (l *ledger) snapshot() []handling {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]handling(nil), l.done...)
}

// handledSet is topic's handled offsets by partition.
func (l *ledger) handledSet(topic string) map[int32]map[int64]bool {
	out := map[int32]map[int64]bool{}
	for _, h := range l.snapshot() {
		if h.topic != topic {
			continue
		}
		if out[h.part] == nil {
			out[h.part] = map[int64]bool{}
		}
		out[h.part][h.offset] = true
	}
	return out
}

func (l *ledger) checkNoOverlap(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.overlaps {
		t.Error(o)
	}
}

// sleepCtx waits d or until ctx ends, reporting ctx's error.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkGoroutines fails the test if, once everything it started is closed, more goroutines run
// than before it began. Register it first so its cleanup runs last.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", runtime.NumGoroutine(), before, bytes.TrimSpace(buf))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
