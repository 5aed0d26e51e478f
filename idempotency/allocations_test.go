package idempotency

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestAllocationsReadsWhatAllocateAttemptHandedOut(t *testing.T) {
	for name, newClient := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, err := New(newClient(t), Config{Prefix: fmt.Sprintf("orderflow-test-alloc-%d", time.Now().UnixNano())})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			a, err := s.Allocations(ctx, "o-1")
			if err != nil || a.Highest != 0 || len(a.ByReason) != 0 {
				t.Fatalf("empty order: %+v, %v", a, err)
			}
			first, _ := s.AllocateAttempt(ctx, "o-1", "failure-a", 1)
			second, _ := s.AllocateAttempt(ctx, "o-1", "replay/r1/d1", 1)
			a, err = s.Allocations(ctx, "o-1")
			if err != nil {
				t.Fatal(err)
			}
			if a.Highest != 3 || a.ByReason["failure-a"] != 2 || a.ByReason["replay/r1/d1"] != 3 || first != 2 || second != 3 {
				t.Fatalf("allocations %+v (handed out %d, %d), want failure-a=2 replay/r1/d1=3 highest 3", a, first, second)
			}
		})
	}
}
