package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/due"
)

// TestPerKeyOrder: records of one key reach the handler strictly in order and never two at
// once, while different keys run concurrently with random latencies (so records of a partition
// complete out of offset order), across a cooperative rebalance in the middle of the stream.
// A graceful revoke drains everything it accepted and commits it, so the stream is handled
// exactly once: every key's sequence is exactly 0, 1, 2, ...
func TestPerKeyOrder(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	const parts, keys, total = 8, 64, 1600
	topic, group := c.topic(t, parts), c.group(t)
	l := newLedger()
	work := func(ctx context.Context, r *kgo.Record) error {
		return sleepCtx(ctx, time.Duration(rand.IntN(8000))*time.Microsecond)
	}

	// Produce in the background so the rebalance happens while records arrive and run.
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; i < total; i += 16 {
			var batch []*kgo.Record
			for j := i; j < i+16; j++ {
				key := fmt.Sprintf("k%02d", j%keys)
				batch = append(batch, &kgo.Record{Topic: topic, Partition: partitionOf(key, parts),
					Key: []byte(key), Value: []byte(strconv.Itoa(j / keys))})
			}
			if err := c.prod.ProduceSync(context.Background(), batch...).FirstErr(); err != nil {
				t.Errorf("producing: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond) // pacing the producer, not waiting for a condition
		}
	}()
	cfg := testConfig(c, group, topic)
	cfg.MaxInFlight = 100
	a := start(t, "a", cfg, l.handler("a", work))
	waitFor(t, 30*time.Second, "member a to handle 200 records", func() bool { return len(l.snapshot()) >= 200 })
	b := start(t, "b", cfg, l.handler("b", work))
	waitFor(t, 30*time.Second, "member b to take partitions", func() bool { return len(b.assignedParts()) > 0 })
	<-produced
	waitFor(t, 60*time.Second, "every record handled", func() bool { return len(l.snapshot()) >= total })
	b.shutdown(t)
	a.shutdown(t)

	l.checkNoOverlap(t)
	seqs := map[string][]int{}
	by := map[string]int{}
	for _, h := range l.snapshot() {
		n, _ := strconv.Atoi(h.value)
		seqs[h.key] = append(seqs[h.key], n)
		by[h.member]++
	}
	if len(seqs) != keys {
		t.Errorf("handled %d keys, want %d", len(seqs), keys)
	}
	for key, s := range seqs {
		for i, n := range s {
			if n != i {
				t.Errorf("key %s handled in order %v, want 0..%d once each", key, s, total/keys-1)
				break
			}
		}
	}
	if by["a"] == 0 || by["b"] == 0 {
		t.Errorf("handled by member: %v; want both members to have worked", by)
	}
	for p, o := range c.committed(t, group, topic) {
		if want := int64(countWhere(l.snapshot(), func(h handling) bool { return h.part == p })); o != want {
			t.Errorf("partition %d committed at %d, want its end %d", p, o, want)
		}
	}
}

func countWhere(hs []handling, f func(handling) bool) int {
	n := 0
	for _, h := range hs {
		if f(h) {
			n++
		}
	}
	return n
}

// TestCrashesAndJoins is randomized (seed logged; ORDERFLOW_TEST_SEED replays one): members
// with random handler latencies (random completion order) crash (kill -9: see member.crash),
// join and leave while records keep coming. After every step and at the end, the group's
// committed offsets, read with kadm, must not be past a record no handler finished; at the end
// every produced record must have been handled at least once.
func TestCrashesAndJoins(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ORDERFLOW_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set ORDERFLOW_TEST_SEED to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	const parts, keys, perStep = 6, 40, 150
	topic, group := c.topic(t, parts), c.group(t)
	cfg := testConfig(c, group, topic)
	cfg.MaxInFlight = 60
	// A rebalance waits for members that have not rejoined; kfake keeps waiting for a dead
	// one until the rebalance timeout (Kafka drops it at its session timeout), so keep that
	// short too, still above RevokeTimeout.
	cfg.RevokeTimeout = 2 * time.Second
	cfg.Opts = append(cfg.Opts, kgo.RebalanceTimeout(4*time.Second))
	l := newLedger()
	work := func(ctx context.Context, r *kgo.Record) error {
		return sleepCtx(ctx, time.Duration(rand.IntN(25))*time.Millisecond)
	}
	produced := map[int32][]int64{}
	seq := 0
	produce := func() {
		var batch []*kgo.Record
		for range perStep {
			key := fmt.Sprintf("k%02d", rng.IntN(keys))
			batch = append(batch, &kgo.Record{Topic: topic, Partition: partitionOf(key, parts), Key: []byte(key), Value: []byte(strconv.Itoa(seq))})
			seq++
		}
		for _, r := range c.produce(t, batch...) {
			produced[r.Partition] = append(produced[r.Partition], r.Offset)
		}
	}
	// checkCommitted reads committed offsets first and the handled set second: whatever was
	// committed had been handled before the commit, so any hole is a real violation. Committed
	// offsets also never move backwards: a partition changes hands only after its last owner's
	// final commit (revoke) or death (no commit after the crash), and its next owner starts
	// from there.
	highest := map[int32]int64{}
	checkCommitted := func(when string) map[int32]int64 {
		committed := c.committed(t, group, topic)
		handled := l.handledSet(topic)
		for p, o := range committed {
			for _, off := range produced[p] {
				if off < o && !handled[p][off] {
					t.Fatalf("%s: partition %d committed at %d, but offset %d was never handled", when, p, o, off)
				}
			}
			if o < highest[p] {
				t.Fatalf("%s: partition %d committed offset went back from %d to %d", when, p, highest[p], o)
			}
			highest[p] = o
		}
		return committed
	}

	var alive []*member
	n := 0
	join := func() {
		name := fmt.Sprintf("m%d", n)
		n++
		alive = append(alive, start(t, name, cfg, l.handler(name, work)))
		t.Logf("%s joins", name)
	}
	pick := func() *member {
		i := rng.IntN(len(alive))
		m := alive[i]
		alive = slices.Delete(alive, i, i+1)
		return m
	}
	began := time.Now()
	join()
	join()
	actions := []string{"crash", "crash", "crash", "join", "join", "leave"}
	rng.Shuffle(len(actions), func(i, j int) { actions[i], actions[j] = actions[j], actions[i] })
	for step, action := range actions {
		before := len(l.snapshot())
		produce()
		waitFor(t, 30*time.Second, fmt.Sprintf("step %d: progress", step), func() bool { return len(l.snapshot()) >= before+perStep/3 })
		t.Logf("step %d at +%v", step, time.Since(began).Round(time.Millisecond))
		switch action {
		case "join":
			join()
		case "crash", "leave":
			if len(alive) == 1 {
				join() // someone has to keep consuming
			}
			if action == "crash" && !c.real {
				// kfake never expires a member whose JoinGroup response could not be delivered
				// (one killed mid-rebalance): it keeps its assignment forever, where Kafka
				// drops it at its session timeout. On kfake, kill only in a stable group.
				waitStable(t, c, group, alive)
			}
			m := pick()
			t.Logf("step %d: %s: %s", step, action, m.name)
			if action == "crash" {
				m.crash(t, c)
			} else {
				m.shutdown(t)
			}
		}
		checkCommitted(fmt.Sprintf("after step %d (%s)", step, action))
	}
	produce()

	total := seq
	waitFor(t, 60*time.Second, "every record handled and committed", func() bool {
		committed := checkCommitted("while finishing")
		handled := l.handledSet(topic)
		distinct := 0
		for _, offs := range handled {
			distinct += len(offs)
		}
		if distinct < total {
			return false
		}
		for p, offs := range produced {
			if committed[p] != offs[len(offs)-1]+1 {
				return false
			}
		}
		return true
	})
	for p, offs := range produced {
		handled := l.handledSet(topic)
		for _, off := range offs {
			if !handled[p][off] {
				t.Errorf("partition %d offset %d never handled", p, off)
			}
		}
	}
	l.checkNoOverlap(t)
	t.Logf("%d records, %d handled (%d redeliveries)", total, len(l.snapshot()), len(l.snapshot())-total)
}

// waitStable waits until the group is stable with exactly the live members.
func waitStable(t *testing.T, c *cluster, group string, alive []*member) {
	t.Helper()
	waitFor(t, 30*time.Second, "a stable group of the live members", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		groups, err := c.adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatalf("describing group: %v", err)
		}
		g := groups[group]
		if g.State != "Stable" || len(g.Members) != len(alive) {
			return false
		}
		ids := map[string]bool{}
		for _, gm := range g.Members {
			ids[gm.MemberID] = true
		}
		for _, m := range alive {
			if id, _ := m.c.Client().GroupMetadata(); !ids[id] {
				return false
			}
		}
		return true
	})
}

// TestRevokeMidWork: when a partition is revoked while some of its records run, the member
// stops taking its records, lets the running ones finish within RevokeTimeout, abandons the
// rest and commits exactly the finished prefix; the next owner starts at the first unfinished
// record. The partition the member keeps goes on undisturbed.
func TestRevokeMidWork(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	topic, group := c.topic(t, 2), c.group(t)
	var recs []*kgo.Record
	for p := range int32(2) {
		for i := range 10 {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	c.produce(t, recs...)

	// Member a: offset 3 of each partition runs until released (it finishes during the
	// revoke drain), offset 5 never finishes on its own (it is abandoned at the deadline).
	release := make(chan struct{})
	var mu sync.Mutex
	aStarted := map[int32][]int64{}
	abandonedAt := map[int32]time.Time{}
	la := newLedger()
	cfg := testConfig(c, group, topic)
	cfg.RevokeTimeout = 2 * time.Second
	a := start(t, "a", cfg, la.handler("a", func(ctx context.Context, r *kgo.Record) error {
		mu.Lock()
		aStarted[r.Partition] = append(aStarted[r.Partition], r.Offset)
		mu.Unlock()
		switch r.Offset {
		case 3:
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case 5:
			<-ctx.Done()
			mu.Lock()
			abandonedAt[r.Partition] = time.Now()
			mu.Unlock()
			return ctx.Err()
		}
		return nil
	}))
	waitFor(t, 30*time.Second, "a to finish all but offsets 3 and 5", func() bool { return len(la.snapshot()) == 16 })
	waitFor(t, 10*time.Second, "a to commit up to the unfinished offset 3", func() bool {
		got := c.committed(t, group, topic)
		return got[0] == 3 && got[1] == 3
	})

	lb := newLedger()
	b := start(t, "b", cfg, lb.handler("b", func(context.Context, *kgo.Record) error { return nil }))
	waitFor(t, 30*time.Second, "a to give up one partition", func() bool { return len(a.assignedParts()) == 1 })
	revokeSeen := time.Now()
	var kept, revoked int32
	for k := range a.assignedParts() {
		kept, revoked = k.partition, 1-k.partition
	}
	var more []*kgo.Record
	for p := range int32(2) {
		for i := 10; i < 15; i++ {
			more = append(more, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	c.produce(t, more...)
	close(release)

	waitFor(t, 30*time.Second, "b to handle the revoked partition's offsets 5..14", func() bool {
		return len(lb.handledSet(topic)[revoked]) == 10
	})
	waitFor(t, 30*time.Second, "a to handle the kept partition's new records", func() bool {
		return len(la.handledSet(topic)[kept]) == 9+5
	})
	for _, h := range lb.snapshot() {
		if h.offset < 5 {
			t.Errorf("b handled offset %d of the revoked partition: a's revoke committed below its finished records", h.offset)
		}
	}
	if !la.handledSet(topic)[revoked][3] {
		t.Errorf("a did not finish offset 3 of the revoked partition during the drain")
	}
	mu.Lock()
	if s := aStarted[revoked]; slices.ContainsFunc(s, func(o int64) bool { return o >= 10 }) {
		t.Errorf("a started records of the revoked partition produced after the revoke: %v", s)
	}
	if at, ok := abandonedAt[revoked]; !ok {
		t.Errorf("offset 5 of the revoked partition was not cancelled")
	} else if waited := at.Sub(revokeSeen); waited < cfg.RevokeTimeout-250*time.Millisecond {
		t.Errorf("revoke cancelled unfinished work %v after it began, want about RevokeTimeout (%v)", waited, cfg.RevokeTimeout)
	}
	mu.Unlock()

	// Leaving, b commits its partition to the end; a times out on its stuck offset 5 again
	// and commits the kept partition up to it.
	b.shutdown(t)
	a.shutdown(t)
	got := c.committed(t, group, topic)
	if got[revoked] != 15 || got[kept] != 5 {
		t.Errorf("committed %v, want partition %d at 15 and partition %d at 5", got, revoked, kept)
	}
	la.checkNoOverlap(t)
}

// TestDelayedRecords: a record carrying a due header reaches the handler no earlier than its due
// time, the rest of its partition waits behind it (paused, no polling), other partitions keep
// moving, and a record still held at shutdown is not committed.
func TestDelayedRecords(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	topic, group := c.topic(t, 2), c.group(t) // partition 0 carries delayed records, 1 plain ones
	l := newLedger()
	m := start(t, "m", testConfig(c, group, topic), l.handler("m", func(context.Context, *kgo.Record) error { return nil }))
	waitFor(t, 30*time.Second, "assignment", func() bool { return len(m.assignedParts()) == 2 })

	base := time.Now()
	var delayed []*kgo.Record
	for i := range 5 {
		at := base.Add(1500*time.Millisecond + time.Duration(i)*100*time.Millisecond)
		delayed = append(delayed, &kgo.Record{Topic: topic, Partition: 0, Key: fmt.Appendf(nil, "d%d", i),
			Headers: []kgo.RecordHeader{due.At(at)}})
	}
	c.produce(t, delayed...)
	var plain []*kgo.Record
	for i := range 30 {
		plain = append(plain, &kgo.Record{Topic: topic, Partition: 1, Key: fmt.Appendf(nil, "p%d", i)})
	}
	c.produce(t, plain...)

	p0 := tp{topic, 0}
	waitFor(t, 10*time.Second, "partition 0 held and paused", func() bool {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		p := m.c.parts[p0]
		return p != nil && p.paused && len(p.held) > 0
	})
	waitFor(t, 15*time.Second, "every record handled", func() bool { return len(l.snapshot()) == 35 })

	firstDue := due.Of(delayed[0])
	var last int64 = -1
	for _, h := range l.snapshot() {
		if h.part == 1 {
			if !h.started.Before(firstDue) {
				t.Errorf("plain record %d handled at +%v, after the first due time +%v: the delay blocked another partition",
					h.offset, h.started.Sub(base), firstDue.Sub(base))
			}
			continue
		}
		at := due.Of(delayed[h.offset])
		if h.started.Before(at) {
			t.Errorf("delayed record %d handled at +%v, before its due time +%v", h.offset, h.started.Sub(base), at.Sub(base))
		}
		if late := h.started.Sub(at); late > 2*time.Second {
			t.Errorf("delayed record %d handled %v after its due time", h.offset, late)
		}
		if h.offset < last {
			t.Errorf("delayed record %d handled after %d", h.offset, last)
		}
		last = h.offset
	}
	m.c.mu.Lock()
	if p := m.c.parts[p0]; p == nil || p.paused {
		t.Errorf("partition 0 still paused after its held records were released")
	}
	m.c.mu.Unlock()
	if paused := m.c.Client().PauseFetchPartitions(nil); len(paused[topic]) > 0 {
		t.Errorf("client still has paused partitions %v", paused)
	}

	// A record due in an hour is held when the member stops: the commit stops before it.
	far := c.produce(t, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("later"),
		Headers: []kgo.RecordHeader{due.At(time.Now().Add(time.Hour))}})[0]
	waitFor(t, 10*time.Second, "the far record held", func() bool {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		p := m.c.parts[p0]
		return p != nil && len(p.held) == 1 && p.held[0].r.Offset == far.Offset
	})
	m.shutdown(t)
	if got := c.committed(t, group, topic); got[0] != far.Offset || got[1] != 30 {
		t.Errorf("committed %v, want partition 0 at the held record %d and partition 1 at 30", got, far.Offset)
	}
	if n := len(l.snapshot()); n != 35 {
		t.Errorf("%d records handled, want 35 (the held record must not reach the handler)", n)
	}
}

// TestKeyWaitsBehindHeldRecord: a record held until its due time (an order's retry) holds back
// the later records of its key from other topics (the order's next events): they run after it,
// in arrival order, while other keys of those topics flow. The waiting records block their
// partition's commit without pausing it.
func TestKeyWaitsBehindHeldRecord(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	retry, requests := c.topic(t, 1), c.topic(t, 1)
	group := c.group(t)
	l := newLedger()
	m := start(t, "m", testConfig(c, group, retry, requests), l.handler("m", func(context.Context, *kgo.Record) error { return nil }))
	waitFor(t, 30*time.Second, "assignment", func() bool { return len(m.assignedParts()) == 2 })

	dueAt := time.UnixMilli(time.Now().Add(time.Second).UnixMilli()) // the header's precision
	c.produce(t, &kgo.Record{Topic: retry, Key: []byte("o1"), Value: []byte("retry"),
		Headers: []kgo.RecordHeader{due.At(dueAt)}})
	waitFor(t, 10*time.Second, "the retry held", func() bool {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		p := m.c.parts[tp{retry, 0}]
		return p != nil && len(p.held) == 1
	})
	c.produce(t,
		&kgo.Record{Topic: requests, Key: []byte("o1"), Value: []byte("event1")},
		&kgo.Record{Topic: requests, Key: []byte("o2"), Value: []byte("other")},
		&kgo.Record{Topic: requests, Key: []byte("o1"), Value: []byte("event2")})
	waitFor(t, 10*time.Second, "order o2 handled and o1's events waiting behind its retry", func() bool {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		return len(m.c.gates["o1"]) == 3 && countWhere(l.snapshot(), func(h handling) bool { return h.key == "o2" }) == 1
	})
	for _, h := range l.snapshot() {
		if h.key == "o2" && !h.started.Before(dueAt) {
			t.Errorf("order o2 handled %v after o1's retry was due: it waited for another order", h.started.Sub(dueAt))
		}
		if h.key == "o1" && time.Now().Before(dueAt) {
			t.Errorf("order o1's %s handled before its retry was due", h.value)
		}
	}
	m.c.mu.Lock()
	if p := m.c.parts[tp{requests, 0}]; p == nil || p.paused {
		t.Errorf("the requests partition is paused (or gone) while o1's events wait: other orders would stop")
	}
	m.c.mu.Unlock()
	if got, ok := c.committed(t, group, requests)[0]; ok && got != 0 {
		t.Errorf("requests committed at %d past o1's waiting event at 0", got)
	}

	waitFor(t, 10*time.Second, "every record handled", func() bool { return len(l.snapshot()) == 4 })
	var order []string
	for _, h := range l.snapshot() {
		if h.key != "o1" {
			continue
		}
		order = append(order, h.value)
		if h.started.Before(dueAt) {
			t.Errorf("o1's %s handled %v before the retry's due time", h.value, dueAt.Sub(h.started))
		}
	}
	if !slices.Equal(order, []string{"retry", "event1", "event2"}) {
		t.Errorf("order o1 handled in order %v, want [retry event1 event2]", order)
	}
	l.checkNoOverlap(t)
	m.shutdown(t)
	if got := c.committed(t, group, requests); got[0] != 3 {
		t.Errorf("requests committed at %v, want 3", got)
	}
	if got := c.committed(t, group, retry); got[0] != 1 {
		t.Errorf("retry committed at %v, want 1", got)
	}
	m.c.mu.Lock()
	if len(m.c.gates) != 0 || m.c.inFlight != 0 {
		t.Errorf("after shutdown: gates %v, in flight %d; want none", m.c.gates, m.c.inFlight)
	}
	m.c.mu.Unlock()
}

// TestGatesOnRevokeAndLost: when the partition of a held record is revoked or lost, the held
// record is dropped and the records of its key waiting behind it (in partitions the member
// keeps) run at once instead of waiting for a dueAt time nobody holds. When the partition of a
// waiting record is revoked, the waiting record is dropped (never run, not committed) without
// delaying the revoke. The revoke and lost callbacks are called directly, as kgo would.
func TestGatesOnRevokeAndLost(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	// setup starts a member with order o1's retry held for an hour, o1's next event waiting
	// behind it and order o2's event handled.
	setup := func(t *testing.T) (m *member, l *ledger, retry, requests, group string) {
		t.Helper()
		retry, requests, group = c.topic(t, 1), c.topic(t, 1), c.group(t)
		l = newLedger()
		m = start(t, "m", testConfig(c, group, retry, requests), l.handler("m", func(context.Context, *kgo.Record) error { return nil }))
		c.produce(t, &kgo.Record{Topic: retry, Key: []byte("o1"), Value: []byte("retry"),
			Headers: []kgo.RecordHeader{due.At(time.Now().Add(time.Hour))}})
		waitFor(t, 30*time.Second, "the retry held", func() bool {
			m.c.mu.Lock()
			defer m.c.mu.Unlock()
			p := m.c.parts[tp{retry, 0}]
			return p != nil && len(p.held) == 1
		})
		c.produce(t,
			&kgo.Record{Topic: requests, Key: []byte("o1"), Value: []byte("event")},
			&kgo.Record{Topic: requests, Key: []byte("o2"), Value: []byte("other")})
		waitFor(t, 10*time.Second, "o2 handled and o1's event waiting", func() bool {
			m.c.mu.Lock()
			defer m.c.mu.Unlock()
			return len(m.c.gates["o1"]) == 2 && m.c.inFlight == 2 && len(l.snapshot()) == 1
		})
		return m, l, retry, requests, group
	}
	checkEnd := func(t *testing.T, m *member) {
		t.Helper()
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		if len(m.c.gates) != 0 || m.c.inFlight != 0 {
			t.Errorf("gates %v, in flight %d; want none", m.c.gates, m.c.inFlight)
		}
	}

	// Subtest names become topic names: keep them short and plain.
	for _, how := range []string{"revoked", "lost"} {
		t.Run("held-partition-"+how+"-releases-waiting", func(t *testing.T) {
			m, l, retry, requests, group := setup(t)
			gone := map[string][]int32{retry: {0}}
			if how == "revoked" {
				m.c.revoked(context.Background(), m.c.Client(), gone)
			} else {
				m.c.lost(context.Background(), m.c.Client(), gone)
			}
			waitFor(t, 10*time.Second, "o1's event handled", func() bool { return len(l.handledSet(requests)[0]) == 2 })
			waitFor(t, 10*time.Second, "nothing left in flight", func() bool {
				m.c.mu.Lock()
				defer m.c.mu.Unlock()
				return m.c.inFlight == 0
			})
			checkEnd(t, m)
			m.shutdown(t)
			if h := l.handledSet(retry); len(h) > 0 {
				t.Errorf("the dropped retry was handled: %v", h)
			}
			if got := c.committed(t, group, requests); got[0] != 2 {
				t.Errorf("requests committed at %v, want 2", got)
			}
			if got := c.committed(t, group, retry); len(got) > 0 {
				t.Errorf("retry committed at %v, want nothing", got)
			}
		})
	}

	t.Run("waiting-partition-revoked-drops-waiting", func(t *testing.T) {
		m, l, retry, requests, group := setup(t)
		cfg := m.c.cfg
		begin := time.Now()
		m.c.revoked(context.Background(), m.c.Client(), map[string][]int32{requests: {0}})
		if took := time.Since(begin); took >= cfg.RevokeTimeout {
			t.Errorf("revoke took %v: it waited for the dropped waiting record", took)
		}
		m.c.mu.Lock()
		if g := m.c.gates["o1"]; len(g) != 1 || g[0].r.Topic != retry || m.c.inFlight != 1 {
			t.Errorf("after the revoke: o1's gate %v, in flight %d; want just the held retry", g, m.c.inFlight)
		}
		m.c.mu.Unlock()
		m.shutdown(t)
		checkEnd(t, m)
		if h := l.handledSet(requests)[0]; len(h) != 1 || !h[1] {
			t.Errorf("requests handled %v, want only o2's offset 1", h)
		}
		if got, ok := c.committed(t, group, requests)[0]; ok && got != 0 {
			t.Errorf("requests committed at %d, past the dropped waiting record at 0", got)
		}
	})
}

// TestHandlerErrors covers the Handler error contract.
func TestHandlerErrors(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	errUndecodable := errors.New("undecodable")

	t.Run("permanent error dead-letters the raw record and the partition moves on", func(t *testing.T) {
		topic, group := c.topic(t, 1), c.group(t)
		var recs []*kgo.Record
		bad := map[int64][]byte{}
		for i := range 12 {
			r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("ok")}
			if i%3 == 1 {
				r.Value = []byte{0xff, 0x00, byte(i)}
			}
			recs = append(recs, r)
		}
		for _, r := range c.produce(t, recs...) {
			if r.Value[0] == 0xff {
				bad[r.Offset] = r.Value
			}
		}
		type letter struct {
			value  []byte
			reason error
		}
		var mu sync.Mutex
		letters := map[int64]letter{}
		dlCalls := 0
		reg := prometheus.NewRegistry()
		cfg := testConfig(c, group, topic)
		cfg.Registerer = reg
		cfg.LagInterval = 50 * time.Millisecond
		cfg.DeadLetter = func(_ context.Context, r *kgo.Record, reason error) error {
			mu.Lock()
			defer mu.Unlock()
			if dlCalls++; dlCalls == 1 {
				return errors.New("dead-letter topic unavailable") // retried like a transient error
			}
			letters[r.Offset] = letter{bytes.Clone(r.Value), reason}
			return nil
		}
		l := newLedger()
		m := start(t, "m", cfg, l.handler("m", func(_ context.Context, r *kgo.Record) error {
			if r.Value[0] == 0xff {
				return Permanent(fmt.Errorf("decoding record %d: %w", r.Offset, errUndecodable))
			}
			return nil
		}))
		waitFor(t, 30*time.Second, "the partition committed to its end", func() bool { return c.committed(t, group, topic)[0] == 12 })
		waitFor(t, 30*time.Second, "the lag gauge at 0", func() bool {
			lag, ok := gaugeValue(t, reg, "orderflow_consumer_lag", map[string]string{"topic": topic, "partition": "0"})
			return ok && lag == 0
		})
		m.shutdown(t)

		mu.Lock()
		defer mu.Unlock()
		if len(letters) != len(bad) {
			t.Errorf("dead-lettered offsets %v, want %v", keys(letters), keys(bad))
		}
		for off, raw := range bad {
			got, ok := letters[off]
			switch {
			case !ok:
				t.Errorf("offset %d not dead-lettered", off)
			case !bytes.Equal(got.value, raw):
				t.Errorf("offset %d dead-lettered with bytes %x, want the raw %x", off, got.value, raw)
			case !errors.Is(got.reason, errUndecodable) || !IsPermanent(got.reason):
				t.Errorf("offset %d dead-lettered with reason %v, want the handler's permanent error", off, got.reason)
			}
		}
		if n := len(l.snapshot()); n != 12-len(bad) {
			t.Errorf("%d records handled ok, want %d", n, 12-len(bad))
		}
		for outcome, want := range map[string]float64{"ok": float64(12 - len(bad)), "dead_lettered": float64(len(bad))} {
			if got := metricValue(t, reg, "orderflow_consumer_records_total", map[string]string{"topic": topic, "outcome": outcome}); got != want {
				t.Errorf("records_total{outcome=%q} = %v, want %v", outcome, got, want)
			}
		}
		if got := metricValue(t, reg, "orderflow_consumer_handler_seconds", map[string]string{"topic": topic}); got != 12 {
			t.Errorf("handler_seconds observations = %v, want 12", got)
		}
		if n, ok := gaugeValue(t, reg, "orderflow_consumer_in_flight", map[string]string{"topic": topic, "partition": "0"}); ok {
			t.Errorf("in_flight = %v after the partition was revoked: want no series", n)
		}
		if lag, ok := gaugeValue(t, reg, "orderflow_consumer_lag", map[string]string{"topic": topic, "partition": "0"}); ok {
			t.Errorf("lag = %v after the partition was revoked: want no series (its next owner reports it)", lag)
		}
	})

	t.Run("transient error retries in place and holds back its key only", func(t *testing.T) {
		topic, group := c.topic(t, 1), c.group(t)
		var recs []*kgo.Record
		for i := range 3 {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("slow"), Value: []byte(strconv.Itoa(i))})
		}
		for i := range 5 {
			recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "other%d", i), Value: []byte("x")})
		}
		c.produce(t, recs...)
		var tries atomic.Int32
		var othersDone atomic.Int32
		l := newLedger()
		m := start(t, "m", testConfig(c, group, topic), l.handler("m", func(_ context.Context, r *kgo.Record) error {
			if string(r.Key) != "slow" {
				othersDone.Add(1)
				return nil
			}
			// The key's first record fails until every other key went through (so the others
			// did not wait for it), and at least twice.
			if r.Offset == 0 && (tries.Add(1) < 3 || othersDone.Load() < 5) {
				return errors.New("redis down")
			}
			return nil
		}))
		waitFor(t, 30*time.Second, "the partition committed to its end", func() bool { return c.committed(t, group, topic)[0] == 8 })
		m.shutdown(t)
		var order []string
		for _, h := range l.snapshot() {
			if h.key == "slow" {
				order = append(order, h.value)
			}
		}
		if !slices.Equal(order, []string{"0", "1", "2"}) {
			t.Errorf("key slow handled in order %v, want [0 1 2]", order)
		}
		if n := tries.Load(); n < 3 {
			t.Errorf("failing record tried %d times, want at least 3", n)
		}
		if n := len(l.snapshot()); n != 8 {
			t.Errorf("%d records handled, want 8 (each once)", n)
		}
	})
}

func keys[V any](m map[int64]V) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestInFlightCap: at MaxInFlight the engine stops polling (the client's buffer is bounded,
// the engine's in-flight count never passes the cap) and resumes as records finish.
func TestInFlightCap(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	const capacity, total = 10, 100
	topic, group := c.topic(t, 4), c.group(t)
	var recs []*kgo.Record
	for i := range total {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 4), Key: fmt.Appendf(nil, "k%d", i)})
	}
	c.produce(t, recs...)

	var (
		polled, returned, started atomic.Int64
		mu                        sync.Mutex
		violations                []string
		maxSeen                   int
	)
	var m *member
	sample := func(where string) {
		m.c.mu.Lock()
		n := m.c.inFlight
		m.c.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		maxSeen = max(maxSeen, n)
		if n > capacity {
			violations = append(violations, fmt.Sprintf("%s: in flight %d > cap %d", where, n, capacity))
		}
	}
	hook := unbufferedHook(func(r *kgo.Record, wasPolled bool) {
		if !wasPolled {
			return
		}
		// A record can be polled only once another has finished, which is after its handler
		// returned: polled <= cap + returned, exactly while nothing returns.
		if p, ret := polled.Add(1), returned.Load(); p > capacity+ret {
			mu.Lock()
			violations = append(violations, fmt.Sprintf("polled %d records with %d returned and cap %d", p, ret, capacity))
			mu.Unlock()
		}
	})
	tokens := make(chan struct{}, total)
	cfg := testConfig(c, group, topic)
	cfg.MaxInFlight = capacity
	cfg.Opts = append(cfg.Opts, kgo.WithHooks(hook))
	l := newLedger()
	ready := make(chan struct{})
	m = start(t, "m", cfg, l.handler("m", func(ctx context.Context, r *kgo.Record) error {
		<-ready
		started.Add(1)
		sample("handler")
		defer returned.Add(1)
		select {
		case <-tokens:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	close(ready)

	waitFor(t, 30*time.Second, "the cap's worth of handlers to start", func() bool { return started.Load() == capacity })
	// Observation window for a negative property (nothing more is polled while the cap is
	// reached), not a wait for a condition.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		sample("blocked")
		if s, p := started.Load(), polled.Load(); s != capacity || p > capacity {
			t.Fatalf("with every handler blocked at the cap, %d started and %d polled (cap %d)", s, p, capacity)
		}
	}
	for range 5 {
		tokens <- struct{}{}
	}
	waitFor(t, 10*time.Second, "five more handlers to start after five finished", func() bool { return started.Load() == capacity+5 })
	for range total - 5 {
		tokens <- struct{}{}
	}
	waitFor(t, 30*time.Second, "every record handled", func() bool { return len(l.snapshot()) == total })
	m.shutdown(t)
	mu.Lock()
	defer mu.Unlock()
	for _, v := range violations {
		t.Error(v)
	}
	if maxSeen != capacity {
		t.Errorf("in flight peaked at %d, want the cap %d", maxSeen, capacity)
	}
}

type unbufferedHook func(r *kgo.Record, polled bool)

func (h unbufferedHook) OnFetchRecordUnbuffered(r *kgo.Record, polled bool) { h(r, polled) }

// TestShutdownWhileHandlersBlock: when Run's context ends (SIGTERM) while handlers block, Run
// waits RevokeTimeout for them, cancels them, commits the finished prefix and returns; a
// handler that ignores its cancelled context delays Run by at most another RevokeTimeout.
// Nothing is left running once the handlers return.
func TestShutdownWhileHandlersBlock(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	topic, group := c.topic(t, 2), c.group(t)
	var recs []*kgo.Record
	for p := range int32(2) {
		for i := range 10 {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	c.produce(t, recs...)
	var cancelled atomic.Int32
	deaf := make(chan struct{}) // releases the handler that ignores its context
	cfg := testConfig(c, group, topic)
	cfg.RevokeTimeout = time.Second
	l := newLedger()
	m := start(t, "m", cfg, l.handler("m", func(ctx context.Context, r *kgo.Record) error {
		switch {
		case r.Offset == 4:
			<-ctx.Done()
			cancelled.Add(1)
			return ctx.Err()
		case r.Offset == 6 && r.Partition == 0:
			<-deaf
			return errors.New("too late")
		}
		return nil
	}))
	waitFor(t, 30*time.Second, "all but the blocking records handled", func() bool { return len(l.snapshot()) == 17 })
	begin := time.Now()
	m.shutdown(t)
	if took := time.Since(begin); took < 2*cfg.RevokeTimeout || took > 2*cfg.RevokeTimeout+5*time.Second {
		t.Errorf("Run returned %v after its context ended, want twice RevokeTimeout (%v) plus a little", took, cfg.RevokeTimeout)
	}
	close(deaf)
	if n := cancelled.Load(); n != 2 {
		t.Errorf("%d blocked handlers saw their context cancelled, want 2", n)
	}
	if got := c.committed(t, group, topic); got[0] != 4 || got[1] != 4 {
		t.Errorf("committed %v, want both partitions at the blocked offset 4", got)
	}
}

// TestRevokeDeadlineWithKeySharedAcrossTopics: a key's records can live in several topics
// (an order's request and its retry), so a revoked partition's record can wait in a key queue
// behind a record of a partition the member keeps, which may retry for a long time. The
// revoke must still end at RevokeTimeout, abandon the waiting record and commit nothing past
// it. The revoke callback is called directly so which partitions it takes is deterministic.
func TestRevokeDeadlineWithKeySharedAcrossTopics(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	kept, revoked := c.topic(t, 1), c.topic(t, 2)
	group := c.group(t)
	c.produce(t, &kgo.Record{Topic: kept, Key: []byte("k1")}, &kgo.Record{Topic: kept, Key: []byte("k2")})
	redisUp := make(chan struct{})
	cfg := testConfig(c, group, kept, revoked)
	cfg.RevokeTimeout = time.Second
	l := newLedger()
	m := start(t, "m", cfg, l.handler("m", func(_ context.Context, r *kgo.Record) error {
		if r.Topic == kept {
			select {
			case <-redisUp:
				return nil
			default:
				return errors.New("redis down") // transient: retried until redisUp
			}
		}
		return nil
	}))
	waitFor(t, 30*time.Second, "both keys retrying on the kept topic", func() bool { return l.calls.Load() >= 4 })
	c.produce(t, &kgo.Record{Topic: revoked, Partition: 0, Key: []byte("k1")}, &kgo.Record{Topic: revoked, Partition: 1, Key: []byte("k2")})
	waitFor(t, 10*time.Second, "the revoked topic's records queued behind their keys", func() bool {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		return m.c.inFlight == 4
	})

	returned := make(chan time.Duration, 1)
	go func() {
		begin := time.Now()
		m.c.revoked(context.Background(), m.c.Client(), map[string][]int32{revoked: {0, 1}})
		returned <- time.Since(begin)
	}()
	select {
	case took := <-returned:
		if took < cfg.RevokeTimeout {
			t.Errorf("revoke returned after %v, before RevokeTimeout with records unfinished", took)
		}
	case <-time.After(cfg.RevokeTimeout + 10*time.Second):
		t.Fatalf("revoke still waiting %v after its RevokeTimeout", 10*time.Second)
	}
	close(redisUp)
	waitFor(t, 10*time.Second, "the kept topic's records handled", func() bool { return len(l.handledSet(kept)[0]) == 2 })
	waitFor(t, 10*time.Second, "the abandoned records to leave the engine", func() bool {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		return m.c.inFlight == 0
	})
	m.shutdown(t)
	if h := l.handledSet(revoked); len(h) > 0 {
		t.Errorf("records of the revoked partitions handled after their revoke ended: %v", h)
	}
	if got := c.committed(t, group, revoked); len(got) > 0 {
		t.Errorf("revoked topic committed at %v, want nothing (none of its records finished)", got)
	}
}

// TestRevokeCallbackWaitsForClose: a rebalance can revoke partitions while the member is
// shutting down (a rolling deploy). Close detaches every partition first and then drains it;
// kgo's revoke callback for the same partitions must not return before Close committed them,
// or the group hands them to another member that starts from an older offset and runs them
// concurrently. The callback is called directly, as kgo would, while Close drains.
func TestRevokeCallbackWaitsForClose(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	topic, group := c.topic(t, 1), c.group(t)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i)})
	}
	c.produce(t, recs...)
	cfg := testConfig(c, group, topic)
	cfg.RevokeTimeout = time.Second
	l := newLedger()
	m := start(t, "m", cfg, l.handler("m", func(ctx context.Context, r *kgo.Record) error {
		if r.Offset == 3 {
			<-ctx.Done() // finishes only when Close gives up on it
			return ctx.Err()
		}
		return nil
	}))
	waitFor(t, 30*time.Second, "all but offset 3 handled", func() bool { return len(l.snapshot()) == 9 })

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		m.c.Close()
	}()
	waitFor(t, 10*time.Second, "Close to detach the partition", func() bool { return len(m.assignedParts()) == 0 })
	begin := time.Now()
	m.c.revoked(context.Background(), m.c.Client(), map[string][]int32{topic: {0}})
	waited := time.Since(begin)
	if waited < cfg.RevokeTimeout/2 {
		t.Errorf("revoke callback returned after %v while Close was still draining the partition (RevokeTimeout %v)", waited, cfg.RevokeTimeout)
	}
	if got := c.committed(t, group, topic); got[0] != 3 {
		t.Errorf("committed %v when the revoke callback returned, want Close's final commit at 3", got)
	}
	<-closed
	m.shutdown(t)
}

// TestIdleMemberKeepsCommittedOffsets: a member that is assigned partitions and finishes
// nothing on them must not commit anything for them (an unknown commit point is not offset 0).
func TestIdleMemberKeepsCommittedOffsets(t *testing.T) {
	checkGoroutines(t)
	c := newCluster(t)
	topic, group := c.topic(t, 4), c.group(t)
	var recs []*kgo.Record
	for i := range 40 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 4), Key: fmt.Appendf(nil, "k%d", i)})
	}
	c.produce(t, recs...)
	la := newLedger()
	a := start(t, "a", testConfig(c, group, topic), la.handler("a", func(context.Context, *kgo.Record) error { return nil }))
	waitFor(t, 30*time.Second, "every record handled", func() bool { return len(la.snapshot()) == 40 })
	a.shutdown(t)

	lb := newLedger()
	b := start(t, "b", testConfig(c, group, topic), lb.handler("b", func(context.Context, *kgo.Record) error { return nil }))
	waitFor(t, 30*time.Second, "b assigned every partition", func() bool { return len(b.assignedParts()) == 4 })
	b.shutdown(t)
	if got := c.committed(t, group, topic); len(got) != 4 || got[0] != 10 || got[1] != 10 || got[2] != 10 || got[3] != 10 {
		t.Errorf("committed %v after an idle member, want every partition still at 10", got)
	}
	if n := lb.calls.Load(); n != 0 {
		t.Errorf("the idle member handled %d records, want 0", n)
	}
}

func TestConfigValidate(t *testing.T) {
	dl := func(context.Context, *kgo.Record, error) error { return nil }
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"complete", Config{Brokers: []string{"b"}, Group: "g", Topics: []string{"t"}, DeadLetter: dl}, true},
		{"no brokers", Config{Group: "g", Topics: []string{"t"}, DeadLetter: dl}, false},
		{"no group", Config{Brokers: []string{"b"}, Topics: []string{"t"}, DeadLetter: dl}, false},
		{"no topics", Config{Brokers: []string{"b"}, Group: "g", DeadLetter: dl}, false},
		{"no dead letter", Config{Brokers: []string{"b"}, Group: "g", Topics: []string{"t"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cfg
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if tc.cfg.MaxInFlight != before.MaxInFlight || tc.cfg.RetryBase != before.RetryBase || tc.cfg.Logger != before.Logger {
				t.Errorf("Validate changed the config: %+v", tc.cfg)
			}
		})
	}
	if _, err := New(Config{Brokers: []string{"b"}, Group: "g", Topics: []string{"t"}, DeadLetter: dl}, nil); err == nil {
		t.Error("New accepted a nil handler")
	}
}

func TestConfigDefaults(t *testing.T) {
	d := Config{MaxInFlight: -1, RevokeTimeout: -time.Second}.withDefaults()
	if d.MaxInFlight != 1000 || d.RevokeTimeout != 10*time.Second || d.CommitInterval != 500*time.Millisecond ||
		d.RetryBase != 50*time.Millisecond || d.RetryMax != 5*time.Second || d.LagInterval != 5*time.Second || d.Logger == nil {
		t.Errorf("defaults not filled: %+v", d)
	}
	set := Config{MaxInFlight: 7, RevokeTimeout: time.Second, CommitInterval: time.Second, RetryBase: time.Second,
		RetryMax: 2 * time.Second, LagInterval: time.Minute}
	if got := set.withDefaults(); got.MaxInFlight != 7 || got.RevokeTimeout != time.Second || got.CommitInterval != time.Second ||
		got.RetryBase != time.Second || got.RetryMax != 2*time.Second || got.LagInterval != time.Minute {
		t.Errorf("set fields changed: %+v", got)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad bytes")
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"nil stays nil", Permanent(nil), false},
		{"plain error", base, false},
		{"marked", Permanent(base), true},
		{"marked then wrapped", fmt.Errorf("handling: %w", Permanent(base)), true},
		{"wrapped then marked", Permanent(fmt.Errorf("decoding: %w", base)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsPermanent(tc.err); got != tc.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.permanent)
			}
			if tc.err != nil && !errors.Is(tc.err, base) {
				t.Errorf("%v does not wrap its cause", tc.err)
			}
		})
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}
