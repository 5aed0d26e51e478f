package bench

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func at(ms ...int) []time.Time {
	out := make([]time.Time, len(ms))
	for i, m := range ms {
		out[i] = t0.Add(time.Duration(m) * time.Millisecond)
	}
	return out
}

func TestSteady(t *testing.T) {
	tests := []struct {
		name       string
		times      []time.Time
		lo, hi     float64
		start, end int // ms
		events     int
		rate       float64
	}{
		// 11 events 100 ms apart, unsorted: ranks 1 and 9 of 0..10.
		{"ten percent each side", at(1000, 0, 100, 200, 300, 400, 500, 600, 700, 800, 900), 0.1, 0.9, 100, 900, 8, 10},
		{"whole run", at(0, 500, 1000), 0, 1, 0, 1000, 2, 2},
		// 5 events, lo 0.1 → rank floor(0.4) = 0, hi 0.9 → rank ceil(3.6) = 4.
		{"ranks round outward", at(0, 10, 20, 30, 2000), 0.1, 0.9, 0, 2000, 4, 2},
		{"two events", at(0, 250), 0.1, 0.9, 0, 250, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := Steady(tt.times, tt.lo, tt.hi)
			if !w.Start.Equal(t0.Add(time.Duration(tt.start)*time.Millisecond)) || !w.End.Equal(t0.Add(time.Duration(tt.end)*time.Millisecond)) {
				t.Errorf("window %v..%v, want +%dms..+%dms", w.Start.Sub(t0), w.End.Sub(t0), tt.start, tt.end)
			}
			if w.Events != tt.events {
				t.Errorf("events %d, want %d", w.Events, tt.events)
			}
			if math.Abs(w.Rate()-tt.rate) > 1e-9 {
				t.Errorf("rate %v, want %v", w.Rate(), tt.rate)
			}
		})
	}
	if w := Steady(at(5), 0.1, 0.9); w.Events != 0 || w.Rate() != 0 {
		t.Errorf("one event: %+v rate %v, want the zero window", w, w.Rate())
	}
	if w := Steady(at(7, 7, 7), 0, 1); w.Rate() != 0 {
		t.Errorf("simultaneous events: rate %v, want 0 (no duration)", w.Rate())
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- { // 100 ms .. 1 ms, reversed
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.5, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile([]time.Duration{3, 1, 2}, 50); got != 2 {
		t.Errorf("p50 of 1,2,3 = %v, want 2", got)
	}
	if Percentile(nil, 50) != 0 {
		t.Error("p50 of nothing is not 0")
	}
}

func TestPerOrderAndRatio(t *testing.T) {
	if got := PerOrder(47, 10); got != 4.7 {
		t.Errorf("PerOrder(47, 10) = %v", got)
	}
	if PerOrder(5, 0) != 0 || Ratio(5, 0) != 0 {
		t.Error("division by zero orders is not 0")
	}
	if got := Ratio(400, 1000); got != 0.4 {
		t.Errorf("Ratio(400, 1000) = %v", got)
	}
}

func TestAt(t *testing.T) {
	s := []Sample{{t0, 1}, {t0.Add(time.Second), 3}, {t0.Add(3 * time.Second), 4}}
	for _, c := range []struct {
		ms   int
		want float64
	}{{-500, 1}, {0, 1}, {500, 2}, {1000, 3}, {2000, 3.5}, {3000, 4}, {9000, 4}} {
		if got := At(s, t0.Add(time.Duration(c.ms)*time.Millisecond)); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("At(+%dms) = %v, want %v", c.ms, got, c.want)
		}
	}
	if got := Between(s, t0.Add(500*time.Millisecond), t0.Add(2*time.Second)); math.Abs(got-1.5) > 1e-9 {
		t.Errorf("Between(+0.5s, +2s) = %v, want 1.5", got)
	}
	if At(nil, t0) != 0 {
		t.Error("At of no samples is not 0")
	}
}

func TestBuckets(t *testing.T) {
	// Window 0..3.5 s: three whole seconds holding 2, 0 and 5 events; the events before the
	// window and in the partial last second are left out.
	times := at(-10, 100, 900, 2000, 2100, 2200, 2300, 2999, 3200)
	w := Window{Start: t0, End: t0.Add(3500 * time.Millisecond)}
	low, median, high := Buckets(times, w)
	if low != 0 || median != 2 || high != 5 {
		t.Errorf("Buckets = %d, %d, %d, want 0, 2, 5", low, median, high)
	}
	if l, m, h := Buckets(times, Window{Start: t0, End: t0.Add(900 * time.Millisecond)}); l != 0 || m != 0 || h != 0 {
		t.Errorf("a window under a second: %d, %d, %d, want zeros", l, m, h)
	}
}

func TestSum(t *testing.T) {
	a := []Sample{{t0, 0}, {t0.Add(2 * time.Second), 2}}
	b := []Sample{{t0.Add(time.Second), 10}, {t0.Add(3 * time.Second), 12}}
	got := Sum(a, b)
	want := []float64{10, 11, 13, 14} // at 0, 1, 2, 3 s: a 0, 1, 2, 2 and b 10, 10, 11, 12
	if len(got) != len(want) {
		t.Fatalf("Sum has %d samples, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if !got[i].At.Equal(t0.Add(time.Duration(i)*time.Second)) || math.Abs(got[i].Value-w) > 1e-9 {
			t.Errorf("sample %d = %v at +%v, want %v at +%ds", i, got[i].Value, got[i].At.Sub(t0), w, i)
		}
	}
	if s := Sum(a); len(s) != 2 || s[1].Value != 2 {
		t.Errorf("Sum of one series = %v, want it unchanged", s)
	}
}
