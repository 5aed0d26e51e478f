package producer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/producer"
	"github.com/orderflow/orderflow/schemas"
	"github.com/orderflow/orderflow/topology"
)

// writeLog records every request to a registry that could change it: anything but a GET and the
// lookup POST /subjects/{subject}.
type writeLog struct {
	mu     sync.Mutex
	writes []string
}

func (l *writeLog) intercept(_ http.ResponseWriter, r *http.Request) bool {
	lookup := r.Method == http.MethodPost && strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 1 && strings.HasPrefix(r.URL.Path, "/subjects/")
	if r.Method != http.MethodGet && !lookup {
		l.mu.Lock()
		l.writes = append(l.writes, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
	}
	return false // srfake answers
}

func (l *writeLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

// With LookupSchemas a producer writes nothing to the registry: it finds the schemas someone
// registered before and produces with their ids; a schema nobody registered is ErrNotRegistered,
// named by its subject. (The same on the real registry with a read-only key:
// cmd/orderflow TestSecuredServices.)
func TestLookupSchemasWritesNothing(t *testing.T) {
	e := newEnv(t, 1<<20)
	fake := srfake.New()
	t.Cleanup(fake.Close)
	var log writeLog
	fake.Intercept(log.intercept)
	reg, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	registering, err := producer.New(ctx, producer.Config{Brokers: e.brokers, Registry: reg, Topology: e.topo, Opts: testenv.KafkaSecurity(t)})
	if err != nil {
		t.Fatal(err)
	}
	registering.Close()
	if w := log.take(); len(w) == 0 {
		t.Fatal("registering wrote nothing to the registry: the write log does not see writes")
	}

	p, err := producer.New(ctx, producer.Config{Brokers: e.brokers, Registry: reg, Topology: e.topo, LookupSchemas: true, Opts: testenv.KafkaSecurity(t)})
	if err != nil {
		t.Fatalf("looking up registered schemas: %v", err)
	}
	t.Cleanup(p.Close)
	o := schemas.OrderRequested{OrderID: "lookup-1", Attempt: 1, Provider: "rye", Currency: "USD", RequestedAt: time.Now().UTC(),
		Items: []schemas.Item{{Merchant: "amazon", ProductID: "B01", Quantity: 1, PriceCents: 100}}}
	if err := p.RequestOrder(ctx, o); err != nil {
		t.Fatal(err)
	}
	if w := log.take(); len(w) != 0 {
		t.Fatalf("a lookup-only producer wrote to the registry: %v", w)
	}
	recs := e.records(t, e.topo.Requests())
	if len(recs) != 1 {
		t.Fatalf("%d records on %s, want 1", len(recs), e.topo.Requests())
	}
	got, err := schemas.NewCodec(reg).DecodeOrderRequested(ctx, recs[0].Value)
	if err != nil || got.OrderID != o.OrderID {
		t.Fatalf("decoded %+v, %v; want order %s", got, err, o.OrderID)
	}

	// A deployment whose schemas nobody registered.
	fresh := topology.Topology{Prefix: fmt.Sprintf("lookup-missing-%d.", time.Now().UnixNano()), Partitions: 1}
	_, err = producer.New(ctx, producer.Config{Brokers: e.brokers, Registry: reg, Topology: fresh, LookupSchemas: true, Opts: testenv.KafkaSecurity(t)})
	if !errors.Is(err, schemas.ErrNotRegistered) || !strings.Contains(err.Error(), fresh.Prefix) || !strings.Contains(err.Error(), "-value") {
		t.Fatalf("looking up unregistered schemas: %v; want ErrNotRegistered naming the subject", err)
	}
	if w := log.take(); len(w) != 0 {
		t.Fatalf("a failed lookup wrote to the registry: %v", w)
	}
}
