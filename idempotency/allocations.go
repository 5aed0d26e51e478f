package idempotency

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Allocations is what AllocateAttempt handed out for one order: the attempt number of every
// reason and the highest number.
type Allocations struct {
	Highest  int
	ByReason map[string]int
}

// Allocations reads, without changing anything, the attempt numbers AllocateAttempt handed out
// for orderID. The dead-letter replay tool uses it to find every attempt of an order and to
// recognise the attempt a replay id already allocated.
func (s *Store) Allocations(ctx context.Context, orderID string) (Allocations, error) {
	key := fmt.Sprintf("%s:attempts:{%s}", s.cfg.Prefix, orderID)
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return Allocations{}, fmt.Errorf("reading the attempts of %s: %w: %v", orderID, ErrUnavailable, err)
	}
	a := Allocations{ByReason: make(map[string]int, len(m))}
	for k, v := range m {
		n, _ := strconv.Atoi(v)
		if reason, ok := strings.CutPrefix(k, "r:"); ok {
			a.ByReason[reason] = n
		}
		a.Highest = max(a.Highest, n)
	}
	return a, nil
}
