package coalesce

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// While a batch is out, the requests that arrive go together in the next one, at most limit
// each, and every caller gets its own answer.
func TestRequestsArrivingTogetherShareABatch(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := New(4, time.Second, func(_ context.Context, in []int) ([]int, error) {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(in))
		mu.Unlock()
		if first {
			<-release // hold the first batch until the others have queued
		}
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * 10
		}
		return out, nil
	})
	got := make([]int, 10)
	var wg sync.WaitGroup
	do := func(i int) {
		defer wg.Done()
		v, err := b.Do(context.Background(), i)
		if err != nil {
			t.Error(err)
		}
		got[i] = v
	}
	wg.Add(1)
	go do(0)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 })
	for i := 1; i < 10; i++ {
		wg.Add(1)
		go do(i)
	}
	waitFor(t, func() bool { return b.Queued() == 9 })
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != i*10 {
			t.Fatalf("request %d answered %d, want %d", i, v, i*10)
		}
	}
	if want := []int{1, 4, 4, 1}; !slices.Equal(sizes, want) {
		t.Fatalf("batches of %v, want %v (the first alone, then at most 4)", sizes, want)
	}
}

// A failed send fails every request of its batch; a caller whose context ends returns at once.
func TestBatchErrorsAndCancelledCallers(t *testing.T) {
	boom := errors.New("boom")
	b := New(8, time.Second, func(context.Context, []string) ([]string, error) { return nil, boom })
	if _, err := b.Do(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the batch's", err)
	}
	short := New(8, time.Second, func(_ context.Context, in []string) ([]string, error) { return in[1:], nil })
	if _, err := short.Do(context.Background(), "x"); err == nil {
		t.Fatal("a batch answered with too few answers was taken")
	}
	block := make(chan struct{})
	defer close(block)
	slow := New(8, time.Second, func(_ context.Context, in []string) ([]string, error) { <-block; return in, nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := slow.Do(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the caller's cancellation", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
	}
}
