package backoff

import (
	"testing"
	"time"
)

// TestNew: waits double from base within the jitter, and never pass max.
func TestNew(t *testing.T) {
	const base, max = 100 * time.Millisecond, time.Second
	for range 50 {
		b := New(base, max)
		want := base
		for i := range 8 {
			d, stop := b.Next()
			if stop {
				t.Fatalf("try %d: the backoff stopped by itself", i)
			}
			lo, hi := want*8/10, min(want*12/10, max)
			if d < lo || d > hi {
				t.Fatalf("try %d: wait %v, want within [%v, %v]", i, d, lo, hi)
			}
			want = min(2*want, max)
		}
	}
}

func TestJitter(t *testing.T) {
	const d = time.Second
	lo, hi := d, d
	for range 1000 {
		j := Jitter(d)
		if j < 800*time.Millisecond || j > 1200*time.Millisecond {
			t.Fatalf("Jitter(%v) = %v, want within ±20%%", d, j)
		}
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo > 900*time.Millisecond || hi < 1100*time.Millisecond {
		t.Errorf("1000 jitters of %v spread only over [%v, %v]", d, lo, hi)
	}
}
