// Package bench holds the arithmetic of the end-to-end benchmark (cmd/bench-e2e): the steady
// window of a run, rates, percentiles, counts per order and the interpolation of sampled
// counters. It reads no clock and starts nothing, so each number the bench prints can be checked
// against a hand computation (summary_test.go).
package bench

import (
	"math"
	"slices"
	"sort"
	"time"
)

// Window is the steady part of a run: from the event at fraction Lo of the sorted event times
// to the one at Hi, leaving out the ramp-up (processes joining groups, caches warming) and the
// tail (the last stragglers).
type Window struct {
	Start, End time.Time
	// Events is how many events happened in (Start, End]: the rate's numerator.
	Events int
}

// Steady is the window of times (any order) from the event of rank lo*(n-1) (rounded down) to
// the one of rank hi*(n-1) (rounded up), 0 <= lo < hi <= 1. Fewer than two events give the zero
// Window.
func Steady(times []time.Time, lo, hi float64) Window {
	if len(times) < 2 {
		return Window{}
	}
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	last := float64(len(ts) - 1)
	a := int(math.Floor(lo * last))
	b := int(math.Ceil(hi * last))
	if b <= a {
		b = min(a+1, len(ts)-1)
		a = b - 1
	}
	return Window{Start: ts[a], End: ts[b], Events: b - a}
}

// Duration is End - Start.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Rate is Events per second over the window; 0 for an empty or instantaneous window.
func (w Window) Rate() float64 {
	if w.Duration() <= 0 {
		return 0
	}
	return float64(w.Events) / w.Duration().Seconds()
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// PerOrder is total / orders; 0 when no order was counted.
func PerOrder(total float64, orders int) float64 {
	if orders <= 0 {
		return 0
	}
	return total / float64(orders)
}

// Ratio is a / b; 0 when b is 0.
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Sample is a cumulative counter (CPU seconds, say) read at a time.
type Sample struct {
	At    time.Time
	Value float64
}

// At is the counter's value at t, linearly interpolated between the samples around it (sorted
// by time); before the first sample it is the first value, after the last the last.
func At(samples []Sample, t time.Time) float64 {
	if len(samples) == 0 {
		return 0
	}
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].At.Before(t) })
	switch {
	case i == 0:
		return samples[0].Value
	case i == len(samples):
		return samples[len(samples)-1].Value
	}
	p, n := samples[i-1], samples[i]
	span := n.At.Sub(p.At)
	if span <= 0 {
		return n.Value
	}
	return p.Value + (n.Value-p.Value)*float64(t.Sub(p.At))/float64(span)
}

// Between is the counter's increase from a to b (At(b) - At(a)).
func Between(samples []Sample, a, b time.Time) float64 { return At(samples, b) - At(samples, a) }

// Buckets counts the events of times inside w per whole second from w.Start (the last, partial
// second left out, so an uneven end does not read as a slump) and returns the smallest, the
// median and the largest count: how bursty arrivals are. A window under a second gives zeros.
func Buckets(times []time.Time, w Window) (low, median, high int) {
	n := int(w.Duration() / time.Second)
	if n <= 0 {
		return 0, 0, 0
	}
	counts := make([]int, n)
	for _, t := range times {
		if t.Before(w.Start) {
			continue
		}
		if i := int(t.Sub(w.Start) / time.Second); i < n {
			counts[i]++
		}
	}
	slices.Sort(counts)
	return counts[0], counts[n/2], counts[n-1]
}

// Sum is the sum of cumulative counters sampled apart (the CPU time of several processes): at
// every time any of them was sampled, the sum of each one's value there (At).
func Sum(series ...[]Sample) []Sample {
	var times []time.Time
	for _, s := range series {
		for _, x := range s {
			times = append(times, x.At)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	times = slices.CompactFunc(times, func(a, b time.Time) bool { return a.Equal(b) })
	out := make([]Sample, len(times))
	for i, t := range times {
		out[i].At = t
		for _, s := range series {
			out[i].Value += At(s, t)
		}
	}
	return out
}
