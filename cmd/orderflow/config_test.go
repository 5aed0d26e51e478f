package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexflint/go-arg"
	"github.com/alicebob/miniredis/v2"

	"github.com/orderflow/orderflow/embedded"
	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/service"
	"github.com/orderflow/orderflow/topology"
)

// parseRun parses `orderflow run argv...` as main does.
func parseRun(t *testing.T, argv ...string) (*runCmd, error) {
	t.Helper()
	var a args
	p, err := arg.NewParser(arg.Config{}, &a)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Parse(append([]string{"run"}, argv...)); err != nil {
		return nil, err
	}
	return a.Run, nil
}

// Every configuration mistake is found before anything starts, reported by flag, and exits
// with code 2; the list forms the help promises parse.
func TestRunFlagsValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		env  map[string]string
		want []string // substrings of the error; none = valid
		// check inspects a valid command.
		check func(t *testing.T, c *runCmd)
	}{
		{name: "defaults", check: func(t *testing.T, c *runCmd) {
			if d, _ := c.tiers(); len(d) != 0 || len(c.roles()) != 0 || c.RedisPrefix != "" {
				t.Errorf("tiers %v roles %v redis prefix %q, want defaults", d, c.roles(), c.RedisPrefix)
			}
		}},
		{name: "unknown role", argv: []string{"--roles", "foo"}, want: []string{`--roles: unknown role "foo"`, "worker, tracker, reconciler"}},
		{name: "roles comma-separated", argv: []string{"--roles", "worker,tracker"}, check: wantRoles("worker", "tracker")},
		{name: "roles space-separated", argv: []string{"--roles", "worker reconciler"}, check: wantRoles("worker", "reconciler")},
		{name: "roles repeated", argv: []string{"--roles", "worker", "tracker"}, check: wantRoles("worker", "tracker")},
		{name: "roles from the environment", env: map[string]string{"ORDERFLOW_ROLES": "worker, tracker"}, check: wantRoles("worker", "tracker")},
		{name: "zero tier", argv: []string{"--retry-tiers", "0s"}, want: []string{"--retry-tiers: 0s: a delay tier must be positive"}},
		{name: "negative tier", argv: []string{"--retry-tiers=-1s"}, want: []string{"--retry-tiers: -1s: a delay tier must be positive"}},
		{name: "tiers as the help writes them", argv: []string{"--retry-tiers", "500ms 2s"}, check: wantTiers(500*time.Millisecond, 2*time.Second)},
		{name: "tiers comma-separated", argv: []string{"--retry-tiers", "500ms,2s,1m"}, check: wantTiers(500*time.Millisecond, 2*time.Second, time.Minute)},
		{name: "tiers repeated", argv: []string{"--retry-tiers", "500ms", "2s"}, check: wantTiers(500*time.Millisecond, 2*time.Second)},
		{name: "tiers from the environment", env: map[string]string{"ORDERFLOW_RETRY_TIERS": "1s 10s"}, check: wantTiers(time.Second, 10*time.Second)},
		{name: "tiers not ascending", argv: []string{"--retry-tiers", "2s 500ms"}, want: []string{"--retry-tiers: 500ms after 2s: tiers must be ascending"}},
		{name: "tiers twice", argv: []string{"--retry-tiers", "1s,1s"}, want: []string{"--retry-tiers: 1s after 1s"}},
		{name: "tier not a duration", argv: []string{"--retry-tiers", "fast"}, want: []string{`--retry-tiers: "fast" is not a duration`}},
		{name: "redis over http", argv: []string{"--redis", "http://localhost:6379"}, want: []string{"--redis: http://localhost:6379", "invalid URL scheme"}},
		{name: "redis ok", argv: []string{"--redis", "rediss://user:pw@redis.internal:6380/2"}},
		{name: "registry without scheme", argv: []string{"--registry", "localhost:8081"}, want: []string{"--registry: ", "want http:// or https://"}},
		{name: "rye url scheme", argv: []string{"--rye-url", "ftp://api.rye.com"}, want: []string{`--rye-url: ftp://api.rye.com: scheme "ftp"`}},
		{name: "broker with a scheme", argv: []string{"--brokers", "kafka://k1:9092"}, want: []string{`--brokers: "kafka://k1:9092"`}},
		{name: "negative orders", argv: []string{"--orders=-5"}, want: []string{"--orders: -5: must not be negative"}},
		{name: "negative rate", argv: []string{"--rate=-1"}, want: []string{"--rate: -1: must be positive"}},
		{name: "zero rate", argv: []string{"--rate", "0"}, want: []string{"--rate: 0: must be positive"}},
		{name: "negative lease", argv: []string{"--lease=-10s"}, want: []string{"--lease: -10s: must not be negative"}},
		{name: "negative poll interval", argv: []string{"--poll-interval=-1s"}, want: []string{"--poll-interval: -1s"}},
		{name: "negative first poll", argv: []string{"--first-poll=-1s"}, want: []string{"--first-poll: -1s"}},
		{name: "negative rps", argv: []string{"--rye-default-rps=-1"}, want: []string{"--rye-default-rps: -1: must not be negative"}},
		{name: "zero start timeout", argv: []string{"--start-timeout", "0s"}, want: []string{"--start-timeout: 0s: must be positive"}},
		{name: "empty prefix", argv: []string{"--prefix", ""}, want: []string{"--prefix: must not be empty"}},
		{name: "prefix Kafka refuses", argv: []string{"--prefix", "acme:orders."}, want: []string{`--prefix: "acme:orders."`, "ASCII letters"}},
		{name: "redis prefix", argv: []string{"--prefix", "acme.", "--redis-prefix", "acme-redis"}, check: func(t *testing.T, c *runCmd) {
			if c.RedisPrefix != "acme-redis" {
				t.Errorf("redis prefix %q", c.RedisPrefix)
			}
		}},
		{name: "every mistake at once", argv: []string{"--roles", "foo", "--retry-tiers", "0s", "--redis", "http://x:6379", "--orders=-1"},
			want: []string{"--roles", "--retry-tiers", "--redis", "--orders"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := parseRun(t, tc.argv...)
			if err != nil {
				t.Fatalf("parsing %q: %v", tc.argv, err)
			}
			err = c.validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("validate: %v, want valid", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate accepted %q", tc.argv)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
		})
	}
}

func wantRoles(want ...string) func(*testing.T, *runCmd) {
	return func(t *testing.T, c *runCmd) {
		if got := c.roles(); !slices.Equal(got, want) {
			t.Errorf("roles %q, want %q", got, want)
		}
	}
}

func wantTiers(want ...time.Duration) func(*testing.T, *runCmd) {
	return func(t *testing.T, c *runCmd) {
		got, err := c.tiers()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("tiers %v, %v, want %v", got, err, want)
		}
		cfg := service.Config{}
		c.override(&cfg)
		if err := cfg.Topology.WithDefaults().Validate(); err != nil || len(cfg.Topology.Tiers) != len(want) {
			t.Errorf("topology tiers %+v, %v", cfg.Topology.Tiers, err)
		}
	}
}

// A password in a URL never reaches a message.
func TestValidationHidesRedisPassword(t *testing.T) {
	c, err := parseRun(t, "--redis", "http://:s3cret@localhost:6379", "--registry", "ftp://u:s3cret@reg")
	if err != nil {
		t.Fatal(err)
	}
	err = c.validate()
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("validate: %v; want an error without the password", err)
	}
}

// startConfig is a service config on the embedded Kafka and registry with Redis at redisURL.
func startConfig(t *testing.T, redisURL string) service.Config {
	t.Helper()
	env, err := embedded.Start(embedded.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	providers, err := env.Providers(embedded.Config{}.Sandbox)
	if err != nil {
		t.Fatal(err)
	}
	return service.Config{Brokers: env.Brokers, RegistryURL: env.RegistryURL, RedisURL: redisURL, Providers: providers,
		Topology:  topology.Topology{Prefix: fmt.Sprintf("start%d.", time.Now().UnixNano()), Partitions: 1},
		Processor: processor.Settings{}}
}

// Redis credentials are checked at startup: a refusal is permanent and ends the
// start at once with exit code 2 (not retried for --start-timeout); the right password starts.
func TestStartupChecksRedisCredentials(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("right")
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name, url string
		want      string // "" = starts
	}{
		{"wrong password", "redis://:wrong@" + mr.Addr() + "/0", "WRONGPASS"},
		{"no password", "redis://" + mr.Addr() + "/0", "NOAUTH"},
		{"right password", "redis://:right@" + mr.Addr() + "/0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := startConfig(t, tc.url)
			// A start that retried would run into ctx's deadline, long before --start-timeout.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			svc, err := startService(ctx, cfg, time.Hour, log)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("start with the right password: %v", err)
				}
				svc.Close()
				return
			}
			if err == nil {
				svc.Close()
				t.Fatal("started with credentials Redis refuses")
			}
			if !errors.As(err, new(*service.ConfigError)) || !strings.Contains(err.Error(), tc.want) || ctx.Err() != nil {
				t.Fatalf("err = %v (ctx %v); want a *service.ConfigError saying %s, returned without retrying", err, ctx.Err(), tc.want)
			}
			if strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "right") {
				t.Errorf("the error shows the password: %v", err)
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
		})
	}
}

// The whole command: `orderflow run --redis <wrong password>` ends with exit code 2.
func TestRunWithWrongRedisPasswordExits2(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("right")
	c, err := parseRun(t, "--redis", "redis://:wrong@"+mr.Addr()+"/0", "--start-timeout", "1h", "--prefix", "wrongpw.")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = c.run(ctx, slog.New(slog.DiscardHandler))
	if code := exitCode(err); code != 2 || ctx.Err() != nil {
		t.Fatalf("run: %v (ctx %v): exit code %d, want 2 at once", err, ctx.Err(), code)
	}
}

// An unreachable Redis is retried like Kafka for --start-timeout, then exit code 1.
func TestStartupRetriesUnreachableRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := startConfig(t, "redis://"+addr+"/0")
	_, err = startService(context.Background(), cfg, time.Second, slog.New(slog.DiscardHandler))
	if err == nil || errors.As(err, new(*service.ConfigError)) || !strings.Contains(err.Error(), "gave up after") || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("err = %v; want a retried start that gave up, naming redis", err)
	}
	if code := exitCode(err); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

// The startup banner names the Redis it uses without its password, and says that the embedded
// sandbox lifts Rye's real rate limits.
func TestBannerHidesRedisPassword(t *testing.T) {
	const password = "s3cret-banner-pw"
	mr := miniredis.RunT(t)
	mr.RequireAuth(password)
	c, err := parseRun(t, "--redis", "redis://:"+password+"@"+mr.Addr()+"/0", "--orders", "1", "--prefix", "banner.")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() { b, _ := io.ReadAll(r); out <- string(b) }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runErr := c.run(ctx, slog.New(slog.DiscardHandler))
	os.Stdout = stdout
	_ = w.Close()
	printed := <-out
	if runErr != nil {
		t.Fatalf("run: %v\n%s", runErr, printed)
	}
	if !strings.Contains(printed, "orderflow: kafka") || !strings.Contains(printed, mr.Addr()) {
		t.Fatalf("no banner naming the Redis in:\n%s", printed)
	}
	if strings.Contains(printed, password) {
		t.Fatalf("the output shows the Redis password:\n%s", printed)
	}
	if !strings.Contains(printed, "Rye sandbox rate limits: strict unlimited") {
		t.Errorf("the embedded run does not say that it lifts Rye's real rate limits:\n%s", printed)
	}
}
