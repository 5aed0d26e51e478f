package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Benchmark shape, from the consumer issue: a 20 ms handler, 16 partitions, 10,000 distinct
// keys. benchRecords keeps the partition-serial run (16 / 20 ms = 800 records/s at best) near
// 20 s so the whole benchmark stays under a minute.
const (
	benchPartitions = 16
	benchKeys       = 10_000
	benchRecords    = 16_000
	benchLatency    = 20 * time.Millisecond
	benchInFlight   = 4000
)

// BenchmarkEngineVsPartitionSerial measures, on one kfake topic holding the same records,
// records/s of this engine and of a partition-serial consumer (one goroutine per partition,
// one record at a time), both with the same sleeping handler, and their ratio. Rates are
// taken from the first handler call to the last handler return, so group joins do not count.
//
//	go test -run '^$' -bench . -benchtime 1x ./consumer/   (make bench)
func BenchmarkEngineVsPartitionSerial(b *testing.B) {
	for range b.N {
		fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(benchPartitions, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		brokers := fake.ListenAddrs()
		benchProduce(b, brokers, "bench")

		engine, mem := benchEngine(b, brokers, "bench")
		serial := benchSerial(b, brokers, "bench")
		fake.Close()

		ratio := engine / serial
		b.ReportMetric(engine, "engine-rec/s")
		b.ReportMetric(serial, "serial-rec/s")
		b.ReportMetric(ratio, "speedup-x")
		b.ReportMetric(mem.allocPerRecord, "engine-alloc-B/rec")
		b.ReportMetric(mem.peakHeapMB, "engine-peak-heap-MB")
		b.ReportMetric(0, "ns/op") // the wall time of one op (two full runs) means nothing here
		fmt.Printf("consumer bench: %d records, %d partitions, %d keys, %v handler: engine %.0f records/s (MaxInFlight %d), "+
			"partition-serial %.0f records/s, ratio %.1fx; engine allocates %.0f B/record, heap peak %.1f MB\n",
			benchRecords, benchPartitions, benchKeys, benchLatency, engine, benchInFlight, serial, ratio, mem.allocPerRecord, mem.peakHeapMB)
	}
}

func benchProduce(b *testing.B, brokers []string, topic string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	rs := make([]*kgo.Record, 0, benchRecords)
	for i := range benchRecords {
		key := fmt.Sprintf("order-%05d", i%benchKeys)
		rs = append(rs, &kgo.Record{Topic: topic, Partition: partitionOf(key, benchPartitions), Key: []byte(key), Value: make([]byte, 200)})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}

// benchClock times a run from its first handler call to its last handler return.
type benchClock struct {
	once  sync.Once
	first time.Time
	n     atomic.Int64
	done  chan time.Time
}

func newBenchClock() *benchClock { return &benchClock{done: make(chan time.Time, 1)} }

func (c *benchClock) handle() {
	c.once.Do(func() { c.first = time.Now() })
	time.Sleep(benchLatency)
	if c.n.Add(1) == benchRecords {
		c.done <- time.Now()
	}
}

// rate waits for the last record and returns records/s.
func (c *benchClock) rate(b *testing.B, what string) float64 {
	select {
	case last := <-c.done:
		return benchRecords / last.Sub(c.first).Seconds()
	case <-time.After(2 * time.Minute):
		b.Fatalf("%s: %d of %d records handled after 2 minutes", what, c.n.Load(), benchRecords)
		return 0
	}
}

type benchMem struct{ allocPerRecord, peakHeapMB float64 }

func benchEngine(b *testing.B, brokers []string, topic string) (float64, benchMem) {
	clock := newBenchClock()
	c, err := New(Config{
		Brokers: brokers, Group: "bench-engine", Topics: []string{topic}, MaxInFlight: benchInFlight,
		DeadLetter: func(context.Context, *kgo.Record, error) error { return errors.New("unexpected dead letter") },
	}, HandlerFunc(func(context.Context, *kgo.Record) error {
		clock.handle()
		return nil
	}))
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sampled := make(chan uint64)
	stopSampling := make(chan struct{})
	go func() { // peak heap while the engine runs
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-t.C:
			case <-stopSampling:
				sampled <- peak
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	rate := clock.rate(b, "engine")
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	close(stopSampling)
	peak := <-sampled
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	return rate, benchMem{
		allocPerRecord: float64(after.TotalAlloc-before.TotalAlloc) / benchRecords,
		peakHeapMB:     float64(peak-min(peak, before.HeapInuse)) / (1 << 20),
	}
}

// benchSerial is the usual franz-go goroutine-per-partition consumer: the poll loop hands
// each partition's records to that partition's goroutine, which handles them one at a time.
func benchSerial(b *testing.B, brokers []string, topic string) float64 {
	clock := newBenchClock()
	var (
		mu      sync.Mutex
		workers = map[int32]chan []*kgo.Record{}
		wg      sync.WaitGroup
	)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("bench-serial"), kgo.ConsumeTopics(topic),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range assigned[topic] {
				ch := make(chan []*kgo.Record, 16)
				workers[p] = ch
				wg.Add(1)
				go func() {
					defer wg.Done()
					for rs := range ch {
						for range rs {
							clock.handle()
						}
					}
				}()
			}
		}))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				mu.Lock()
				ch := workers[p.Partition]
				mu.Unlock()
				select {
				case ch <- p.Records:
				case <-ctx.Done():
				}
			})
		}
	}()
	rate := clock.rate(b, "partition-serial")
	cancel()
	<-polled
	mu.Lock()
	for _, ch := range workers {
		close(ch)
	}
	mu.Unlock()
	wg.Wait()
	cl.Close()
	return rate
}
