package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orderflow/orderflow/internal/bench"
)

// child is orderflow running as its own process, so its CPU time and memory are its own and
// not the sandbox's, Kafka's or this bench's: read from /proc/PID/stat and /proc/PID/status.
type child struct {
	cmd         *exec.Cmd
	metricsAddr string
	started     time.Time

	mu      sync.Mutex
	cpu     []bench.Sample // cumulative CPU seconds, every sampleEvery
	peakRSS int64
	exited  chan struct{}
	waitErr error
}

const sampleEvery = 100 * time.Millisecond

func startChild(bin string, args, env []string, logPath string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"run", "--metrics-addr", addr, "--demo=false"}, args...)...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	c := &child{cmd: cmd, metricsAddr: addr, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	c.started = time.Now()
	go func() {
		c.waitErr = cmd.Wait()
		logf.Close()
		close(c.exited)
	}()
	go c.sample()
	return c, nil
}

// sample reads the child's CPU time and peak RSS until it exits.
func (c *child) sample() {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		c.read()
		select {
		case <-c.exited:
			return
		case <-t.C:
		}
	}
}

func (c *child) read() {
	pid := c.cmd.Process.Pid
	cpu, err := bench.ProcCPU(pid)
	if err != nil {
		return // exited
	}
	rss, _ := bench.PeakRSS(pid)
	c.mu.Lock()
	c.cpu = append(c.cpu, bench.Sample{At: time.Now(), Value: cpu.Seconds()})
	c.peakRSS = max(c.peakRSS, rss)
	c.mu.Unlock()
}

func (c *child) samples() ([]bench.Sample, int64) {
	c.read()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bench.Sample(nil), c.cpu...), c.peakRSS
}

// scrape reads the child's /metrics.
func (c *child) scrape(ctx context.Context) (bench.Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return bench.ParseMetrics(resp.Body)
}

// ready polls /readyz until it answers 200, the child exits or ctx ends.
func (c *child) ready(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.metricsAddr+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("orderflow not ready: %w", ctx.Err())
		case <-c.exited:
			return fmt.Errorf("orderflow exited before it was ready: %v (see its log)", c.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits up to 20 s, then kills.
func (c *child) stop() error {
	select {
	case <-c.exited:
		return c.waitErr
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("orderflow did not stop within 20s of SIGTERM: killed")
	}
	return nil
}

// machine samples the machine's busy CPU time (bench.MachineCPU: every process, the services'
// and this bench's included) and the CPU time of the named processes procs (the services',
// this bench's) every sampleEvery until stop is called.
type machine struct {
	procs   map[string]int
	mu      sync.Mutex
	samples []bench.Sample // busy
	stolen  []bench.Sample
	byProc  map[string][]bench.Sample
	done    chan struct{}
}

func sampleMachine(procs map[string]int) *machine {
	m := &machine{procs: procs, byProc: map[string][]bench.Sample{}, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			now := time.Now()
			busy, steal, err := bench.MachineCPU()
			m.mu.Lock()
			if err == nil {
				m.samples = append(m.samples, bench.Sample{At: now, Value: busy.Seconds()})
				m.stolen = append(m.stolen, bench.Sample{At: now, Value: steal.Seconds()})
			}
			for name, pid := range m.procs {
				if cpu, err := bench.ProcCPU(pid); err == nil {
					m.byProc[name] = append(m.byProc[name], bench.Sample{At: now, Value: cpu.Seconds()})
				}
			}
			m.mu.Unlock()
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// busy is the machine's busy CPU seconds between a and b.
func (m *machine) busy(a, b time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bench.Between(m.samples, a, b)
}

// steal is the CPU seconds the host took from the machine's cores between a and b.
func (m *machine) steal(a, b time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return bench.Between(m.stolen, a, b)
}

// procBusy is each sampled process's CPU seconds between a and b.
func (m *machine) procBusy(a, b time.Time) map[string]float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]float64{}
	for name, s := range m.byProc {
		out[name] = bench.Between(s, a, b)
	}
	return out
}

func (m *machine) stop() { close(m.done) }

// serviceProcs are the real services' processes, from the pid files scripts/services writes
// under its state directory (ORDERFLOW_STATE, default /tmp/orderflow-services); those it can
// not read are left out.
func serviceProcs() map[string]int {
	state := os.Getenv("ORDERFLOW_STATE")
	if state == "" {
		state = "/tmp/orderflow-services"
	}
	out := map[string]int{}
	for _, name := range []string{"kafka", "redis", "registry"} {
		b, err := os.ReadFile(filepath.Join(state, name, name+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[name] = pid
		}
	}
	return out
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
