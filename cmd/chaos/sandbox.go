package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// chaosRyeRPS is the Rye sandbox's strict and default tier limit in chaos runs. The sandbox
// enforces Rye's real 1/s and 100/s by default; chaos tests crash safety, not rate limiting,
// and its roles are started with --rye-strict-rps 1000, so the sandbox is raised to match and
// never answers 429 on its own.
const chaosRyeRPS = 1000

// startSandbox serves the provider sandbox. By default the driver serves the sandbox package
// itself (it is never killed), which lets it write a per-request access log; -sandbox process
// runs `orderflow sandbox` with the same faults and latency instead (no access log).
func (r *runner) startSandbox(ctx context.Context) error {
	o := r.o
	switch o.sandbox {
	case "inproc":
		sb, err := sandbox.New(sandbox.Config{
			Rye: ryefake.Config{PlacementStep: o.step, FaultRate: o.faultRate, TimeoutRate: o.timeoutRt,
				Latency: ryefake.Latency{Max: o.latency}, Seed: o.seed, StrictRPS: chaosRyeRPS, DefaultRPS: chaosRyeRPS},
			DigitalRiver: drfake.Config{PlacementStep: o.step, FaultRate: o.faultRate, TimeoutRate: o.timeoutRt,
				LatencyMax: o.latency, Seed: o.seed},
		})
		if err != nil {
			return err
		}
		al, err := newAccessLog(filepath.Join(r.dir, "sandbox-access.log"), sb)
		if err != nil {
			return err
		}
		r.access = al
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: al, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		url := "http://" + ln.Addr().String()
		r.sbURL = url
		r.stopSB = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			_ = sb.Close()
			_ = al.Close()
		}
		fmt.Printf("chaos: sandbox in-process at %s: latency [0, %s], fault rate %g, timeout rate %g, placement step %s, Rye limits %d/s (real: 1/s strict)\n",
			url, o.latency, o.faultRate, o.timeoutRt, o.step, chaosRyeRPS)
		return nil
	case "process":
		logPath := filepath.Join(r.dir, "sandbox.log")
		p := &proc{name: "sandbox", bin: o.bin, logPath: logPath, env: os.Environ(), args: []string{"sandbox",
			"--addr", "127.0.0.1:0", "--placement-step", o.step.String(),
			"--fault-rate", fmt.Sprint(o.faultRate), "--timeout-rate", fmt.Sprint(o.timeoutRt),
			"--latency-max", o.latency.String(), "--seed", fmt.Sprint(o.seed),
			"--rye-strict-rps", fmt.Sprint(chaosRyeRPS), "--rye-default-rps", fmt.Sprint(chaosRyeRPS)}}
		r.sup.add(p)
		if err := p.start(); err != nil {
			return err
		}
		// The port is random: read it from the banner. A restart would pick another port,
		// so the sandbox is never killed.
		re := regexp.MustCompile(`ledger at (http://[0-9.:]+)/ledger`)
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if f, err := os.Open(logPath); err == nil {
				sc := bufio.NewScanner(f)
				for sc.Scan() {
					if m := re.FindStringSubmatch(sc.Text()); m != nil {
						f.Close()
						r.sbURL = m[1]
						fmt.Printf("chaos: `orderflow sandbox` at %s: latency [0, %s], fault rate %g, timeout rate %g, placement step %s, Rye limits %d/s (real: 1/s strict)\n",
							r.sbURL, o.latency, o.faultRate, o.timeoutRt, o.step, chaosRyeRPS)
						return nil
					}
				}
				f.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
		return errors.New("orderflow sandbox did not print its address (see " + logPath + ")")
	}
	return fmt.Errorf("-sandbox %q: want inproc or process", o.sandbox)
}
