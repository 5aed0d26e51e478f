package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one supervised OS process (a role or the sandbox). It is restarted with the same
// arguments after a kill -9 and, with a backoff, when it exits by itself.
type proc struct {
	name    string
	role    string
	bin     string
	args    []string
	env     []string
	logPath string
	sup     *supervisor

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}
	killing   bool // the driver is killing it: not an unexpected exit
	starts    int
	crashLoop int      // consecutive quick self-exits (restart backoff)
	selfExit  []string // "start N: exit status ..." of exits the driver did not cause
}

// supervisor owns every process the driver started.
type supervisor struct {
	mu       sync.Mutex
	procs    []*proc
	stopping bool
	logf     func(format string, a ...any)
}

func (s *supervisor) add(p *proc) {
	p.sup = s
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

func (s *supervisor) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// start launches the process; its stdout and stderr are appended to its log file.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return nil // already running (restarted by the exit watcher)
		}
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "\n=== chaos: start #%d of %s at %s: %s %s\n", p.starts, p.name, time.Now().Format(time.RFC3339Nano), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group (a terminal's Ctrl-C reaches only the driver, which stops everything in
	// order); SIGKILL if the driver dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killing = cmd, done, false
	n, started := p.starts, time.Now()
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== chaos: %s (pid %d, start #%d) exited at %s: %v\n", p.name, cmd.Process.Pid, n, time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		p.mu.Lock()
		unexpected := !p.killing
		var delay time.Duration
		if unexpected {
			p.selfExit = append(p.selfExit, fmt.Sprintf("start #%d after %s: %v", n, time.Since(started).Round(time.Millisecond), err))
			if time.Since(started) > 10*time.Second {
				p.crashLoop = 0
			}
			p.crashLoop++
			delay = min(time.Second<<min(p.crashLoop-1, 3), 5*time.Second)
		}
		p.mu.Unlock()
		close(done)
		if !unexpected || p.sup.isStopping() {
			return
		}
		if p.crashLoop == 1 || p.crashLoop%10 == 0 {
			p.sup.logf("%s (pid %d) exited by itself after %s (%v; %d in a row); restarting with backoff (log %s)",
				p.name, cmd.Process.Pid, time.Since(started).Round(time.Millisecond), err, p.crashLoop, p.logPath)
		}
		time.Sleep(delay)
		if !p.sup.isStopping() {
			if err := p.restartIf(n); err != nil {
				p.sup.logf("restarting %s: %v", p.name, err)
			}
		}
	}()
	return nil
}

// restartIf starts the process again unless someone started it since start #n.
func (p *proc) restartIf(n int) error {
	p.mu.Lock()
	again := p.starts == n
	p.mu.Unlock()
	if !again {
		return nil
	}
	return p.start()
}

// running reports whether the process is up.
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// signal sends sig to the running process and waits up to wait for it to exit; it reports
// whether it exited.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	if cmd == nil {
		p.mu.Unlock()
		return true
	}
	select {
	case <-done:
		p.mu.Unlock()
		return true
	default:
	}
	p.killing = true
	p.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// kill9 kills the process with SIGKILL and waits for it to be reaped; it returns the pid and
// the start number it killed.
func (p *proc) kill9() (pid, start int) {
	p.mu.Lock()
	start = p.starts
	p.mu.Unlock()
	pid = p.pid()
	p.signal(syscall.SIGKILL, 30*time.Second)
	return pid, start
}

// stopAll stops every process: SIGTERM, then SIGKILL after a grace period.
func (s *supervisor) stopAll(grace time.Duration) {
	s.mu.Lock()
	s.stopping = true
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			if !p.signal(syscall.SIGTERM, grace) {
				p.signal(syscall.SIGKILL, 10*time.Second)
			}
		})
	}
	wg.Wait()
}

type selfExit struct {
	name    string
	n       int
	example string
}

// selfExits summarises, per process, the exits the driver did not cause.
func (s *supervisor) selfExits() []selfExit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []selfExit
	for _, p := range s.procs {
		p.mu.Lock()
		if len(p.selfExit) > 0 {
			out = append(out, selfExit{name: p.name, n: len(p.selfExit), example: p.selfExit[len(p.selfExit)-1] + " (" + lastError(p.logPath) + ")"})
		}
		p.mu.Unlock()
	}
	return out
}

// lastError is the last "orderflow: ..." line of a log (what the process exited with).
func lastError(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	last := ""
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "orderflow: ") && !strings.HasPrefix(line, "orderflow: kafka ") && !strings.HasPrefix(line, "orderflow: running") {
			last = line
		}
	}
	return last
}
