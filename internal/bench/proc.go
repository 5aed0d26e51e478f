package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// userHZ is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on every Linux ABI Go runs on.
const userHZ = 100

// ProcCPU is the CPU time (user + system) process pid has used, from /proc/PID/stat: the
// process alone, not its children, at the kernel's USER_HZ resolution (10 ms).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after the last ')'.
func parseStatCPU(line string) (time.Duration, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat line without a command name: %.80q", line)
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line with %d fields after the name, want 13 or more", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat cpu field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// MachineCPU is the CPU time every core of the machine has spent busy (not idle, waiting for
// I/O nor stolen) since boot, and the time stolen (a virtual machine's cores running another
// guest), from the first line of /proc/stat; with runtime.NumCPU they tell how saturated the
// machine was over an interval, and how much of it a noisy host took.
func MachineCPU() (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseMachineCPU(line)
}

// parseMachineCPU reads the "cpu" line of /proc/stat: user nice system idle iowait irq softirq
// steal (guest time is already in user), in USER_HZ ticks; busy is all but idle, iowait and
// steal.
func parseMachineCPU(line string) (busy, steal time.Duration, err error) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: want a cpu line with 8 times, got %.80q", line)
	}
	var b, st int64
	for i, s := range f[1:9] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat cpu field %q: %w", s, err)
		}
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			st = n
		default:
			b += n
		}
	}
	return time.Duration(b) * time.Second / userHZ, time.Duration(st) * time.Second / userHZ, nil
}

// PeakRSS is process pid's peak resident set size in bytes (VmHWM of /proc/PID/status).
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseHWM(f)
}

func parseHWM(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM line")
}

// Metrics is one scrape of a Prometheus text endpoint.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// Sum is the sum of the counter, gauge or untyped family name over its series whose labels
// include every pair of match (none: all series); 0 when the family is missing.
func (m Metrics) Sum(name string, match ...string) float64 {
	fam := m[name]
	if fam == nil {
		return 0
	}
	var sum float64
	for _, s := range fam.GetMetric() {
		if !matches(s, match) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Untyped != nil:
			sum += s.GetUntyped().GetValue()
		}
	}
	return sum
}

// Histogram is the sample count and sum of the histogram family name over its series whose
// labels include every pair of match (none: all series); 0, 0 when the family is missing.
func (m Metrics) Histogram(name string, match ...string) (count uint64, sum float64) {
	fam := m[name]
	if fam == nil {
		return 0, 0
	}
	for _, s := range fam.GetMetric() {
		if !matches(s, match) {
			continue
		}
		if h := s.GetHistogram(); h != nil {
			count += h.GetSampleCount()
			sum += h.GetSampleSum()
		}
	}
	return count, sum
}

// By sums the family name per value of label key.
func (m Metrics) By(name, key string) map[string]float64 {
	out := map[string]float64{}
	fam := m[name]
	if fam == nil {
		return out
	}
	for _, s := range fam.GetMetric() {
		v := s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
		out[label(s, key)] += v
	}
	return out
}

// matches reports whether s has every label pair of match (key, value, key, value...).
func matches(s *dto.Metric, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if label(s, match[i]) != match[i+1] {
			return false
		}
	}
	return true
}

// ByHistogram counts the samples of histogram family name per value of label key.
func (m Metrics) ByHistogram(name, key string) map[string]uint64 {
	out := map[string]uint64{}
	if fam := m[name]; fam != nil {
		for _, s := range fam.GetMetric() {
			out[label(s, key)] += s.GetHistogram().GetSampleCount()
		}
	}
	return out
}

func label(s *dto.Metric, key string) string {
	for _, l := range s.GetLabel() {
		if l.GetName() == key {
			return l.GetValue()
		}
	}
	return ""
}

// Merge is several scrapes as one (several processes' /metrics): Sum and By then add up the
// series of every scrape.
func Merge(ms ...Metrics) Metrics {
	out := Metrics{}
	for _, m := range ms {
		for name, fam := range m {
			if out[name] == nil {
				out[name] = &dto.MetricFamily{Name: fam.Name, Type: fam.Type}
			}
			out[name].Metric = append(out[name].Metric, fam.GetMetric()...)
		}
	}
	return out
}
