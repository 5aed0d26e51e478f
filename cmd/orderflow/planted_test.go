package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/sandbox"
	"github.com/orderflow/orderflow/sandbox/drfake"
	"github.com/orderflow/orderflow/sandbox/ryefake"
)

// plantedSecret is a secret flag of the command line. Each takes its value as --X, as the
// variable env, as a file (--X-file) and as a file named by env_FILE.
type plantedSecret struct {
	flag     string          // --rye-key
	env      string          // ORDERFLOW_RYE_KEY
	commands map[string]bool // the subcommands that take it
}

// plantedSecrets is every secret flag: TestNoSecretInOutput plants a unique value in each.
var plantedSecrets = []plantedSecret{
	{flag: "--rye-key", env: "ORDERFLOW_RYE_KEY", commands: map[string]bool{"run": true, "dlq": true}},
	{flag: "--dr-key", env: "ORDERFLOW_DR_KEY", commands: map[string]bool{"run": true, "dlq": true}},
	{flag: "--kafka-sasl-password", env: "ORDERFLOW_KAFKA_SASL_PASSWORD", commands: map[string]bool{"run": true, "send": true, "dlq": true}},
}

// plantedValue is the secret planted for flag: unique, and found nowhere else in any output.
func plantedValue(flag string) string {
	return "planted" + strings.NewReplacer("-", "").Replace(flag) + "Zq8x"
}

// plantedWorld is what the commands talk to: Kafka (kfake with SASL) whose user's password
// is the planted one, and one that refuses every login as Kafka does (SASL_AUTHENTICATION_FAILED;
// kfake itself just drops the connection); a registry; the provider sandbox accepting the
// planted keys.
type plantedWorld struct {
	kafka, wrongKafka []string
	registry          string
	sandbox           string
	order             string // an order request file for send
}

func newPlantedWorld(t *testing.T) *plantedWorld {
	t.Helper()
	w := &plantedWorld{}
	for _, c := range []struct {
		brokers *[]string
		pass    string
	}{{&w.kafka, plantedValue("--kafka-sasl-password")}} {
		cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(kafkasec.Plain, "orderflow", c.pass),
			kfake.AllowAutoTopicCreation(), kfake.GroupMinSessionTimeout(100*time.Millisecond),
			kfake.SeedTopics(1, "orders.requests", "orders.dlq", "orders.dlq.replays")) // what send and dlq expect to exist
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		*c.brokers = cl.ListenAddrs()
	}
	wrong, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(kafkasec.Plain, "orderflow", "another-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wrong.Close)
	wrong.ControlKey(kmsg.SASLAuthenticate.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		wrong.KeepControl()
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: Invalid username or password"
		resp.ErrorMessage = &msg
		return resp, nil, true
	})
	w.wrongKafka = wrong.ListenAddrs()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	w.registry = reg.URL()
	sb, err := sandbox.New(sandbox.Config{
		Rye:          ryefake.Config{APIKey: plantedValue("--rye-key"), StrictRPS: ryefake.Unlimited, DefaultRPS: ryefake.Unlimited, PlacementStep: 20 * time.Millisecond},
		DigitalRiver: drfake.Config{APIKey: plantedValue("--dr-key"), PlacementStep: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	url, shutdown, err := sb.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	w.sandbox = url
	w.order = filepath.Join(t.TempDir(), "order.json")
	order := `{"order_id":"planted-1","provider":"rye","buyer":{"country_code":"US"},
		"items":[{"merchant":"amazon","product_id":"B01","quantity":1,"price_cents":1999}],"requested_at":"2026-01-02T03:04:05Z"}`
	if err := os.WriteFile(w.order, []byte(order), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestNoSecretInOutput plants a unique value in every secret flag, given as a flag, a variable,
// a file and a file named by a variable, runs the commands so that they print their banners,
// log at debug level (text and JSON) and fail in the ways an operator meets (a broker refusing
// the credentials, an unreachable broker, a bad flag), and checks that no value ever shows in
// stdout or stderr.
func TestNoSecretInOutput(t *testing.T) {
	defaultLog := slog.Default()
	t.Cleanup(func() { slog.SetDefault(defaultLog) })
	for _, k := range []string{"ORDERFLOW_BROKERS", "ORDERFLOW_REGISTRY", "ORDERFLOW_REDIS", "ORDERFLOW_LOG_FORMAT", "ORDERFLOW_LOG_LEVEL"} {
		t.Setenv(k, "x")
		os.Unsetenv(k)
	}
	w := newPlantedWorld(t)
	sasl := func(brokers []string) []string {
		return []string{"--brokers", strings.Join(brokers, ","), "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "orderflow"}
	}
	providers := []string{"--rye-url", w.sandbox + sandbox.RyePrefix, "--dr-url", w.sandbox + sandbox.DigitalRiverPrefix}
	unreachable := []string{"--brokers", "127.0.0.1:1", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "orderflow"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	var prefixes int
	prefix := func() []string {
		prefixes++
		return []string{"--prefix", fmt.Sprintf("planted%d.", prefixes)}
	}

	for _, tc := range []struct {
		name   string
		argv   func() []string // after the global flags; the planted secrets are appended
		want   int             // exit code
		stdout string          // what stdout must show (the banner), if anything
		slow   bool            // seconds a run: each way of planting once, text and JSON in turn
	}{
		{name: "run: demo over SASL", want: 0, slow: true, stdout: "orderflow: kafka", argv: func() []string {
			return cat([]string{"run", "--demo", "--skeleton", "--orders", "1", "--rate", "5", "--poll-interval", "50ms",
				"--retry-tiers", "100ms", "--rye-strict-rps", "0", "--rye-default-rps", "0", "--dr-rps", "0", "--start-timeout", "20s"}, prefix(), sasl(w.kafka), providers)
		}},
		{name: "run: Kafka refuses the credentials", want: 2, argv: func() []string {
			return cat([]string{"run", "--start-timeout", "20s"}, sasl(w.wrongKafka), providers)
		}},
		{name: "run: Kafka unreachable", want: 1, argv: func() []string {
			return cat([]string{"run", "--start-timeout", "500ms"}, unreachable, providers)
		}},
		{name: "run: bad flags", want: 2, argv: func() []string {
			return cat([]string{"run", "--kafka-sasl-mechanism", "GSSAPI", "--roles", "bogus", "--rye-url", "ftp://x"})
		}},
		{name: "run: help", want: 0, argv: func() []string { return []string{"run", "--help"} }},
		{name: "send: over SASL", want: 0, stdout: "sent order", argv: func() []string {
			return cat([]string{"send", "--registry", w.registry}, sasl(w.kafka), []string{w.order})
		}},
		{name: "send: Kafka refuses the credentials", want: 2, argv: func() []string {
			return cat([]string{"send", "--registry", w.registry}, sasl(w.wrongKafka), []string{w.order})
		}},
		{name: "dlq list: over SASL", want: 0, argv: func() []string {
			return cat([]string{"dlq", "list", "--registry", w.registry}, sasl(w.kafka), providers)
		}},
		{name: "dlq list: Kafka refuses the credentials", want: 2, argv: func() []string {
			return cat([]string{"dlq", "list", "--registry", w.registry}, sasl(w.wrongKafka), providers)
		}},
		{name: "dlq replay: Kafka unreachable", want: 1, argv: func() []string {
			return cat([]string{"dlq", "replay", "--all", "--registry", w.registry}, unreachable, providers)
		}},
	} {
		for i, way := range []string{"flag", "env", "file", "env file"} {
			for j, format := range []string{"text", "json"} {
				if tc.slow && i%2 != j {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", tc.name, way, format), func(t *testing.T) {
					argv := tc.argv()
					argv = append(argv, plant(t, argv[0], way)...)
					argv = append([]string{"--log-level", "debug", "--log-format", format}, argv...)
					code, stdout, stderr := runCaptured(t, argv)
					for _, s := range plantedSecrets {
						v := plantedValue(s.flag)
						for _, out := range []struct{ name, text string }{{"stdout", stdout}, {"stderr", stderr}} {
							if i := strings.Index(out.text, v); i >= 0 {
								t.Errorf("%s shows the %s value: ...%s...", out.name, s.flag, out.text[max(0, i-200):min(len(out.text), i+len(v)+50)])
							}
						}
					}
					if os.Getenv("PLANTED_DEBUG") != "" {
						t.Logf("stdout: %s\nstderr: %s", stdout, stderr)
					}
					if code != tc.want {
						t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.want, stdout, stderr)
					}
					if !strings.Contains(stdout, tc.stdout) {
						t.Errorf("stdout does not show %q:\n%s", tc.stdout, stdout)
					}
					if strings.HasPrefix(tc.name, "run: demo") && !strings.Contains(stderr, "DEBUG") {
						t.Errorf("no debug log line on stderr:\n%s", stderr)
					}
				})
			}
		}
	}
}

// plant returns the arguments (and sets the variables) giving every secret command takes its
// planted value the way way says.
func plant(t *testing.T, command, way string) []string {
	t.Helper()
	var argv []string
	dir := t.TempDir()
	for _, s := range plantedSecrets {
		if !s.commands[command] {
			continue
		}
		v := plantedValue(s.flag)
		file := filepath.Join(dir, strings.TrimPrefix(s.flag, "--"))
		if err := os.WriteFile(file, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		switch way {
		case "flag":
			argv = append(argv, s.flag, v)
		case "env":
			t.Setenv(s.env, v)
		case "file":
			argv = append(argv, s.flag+"-file", file)
		case "env file":
			t.Setenv(s.env+"_FILE", file)
		}
	}
	return argv
}

// runCaptured runs the command line in process and returns its exit code and everything it
// wrote: to the writers it was given and to os.Stdout and os.Stderr (the banners of run, send
// and dlq go to os.Stdout).
func runCaptured(t *testing.T, argv []string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	outFile, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errFile, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	origOut, origErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outFile, errFile
	var out, errOut bytes.Buffer
	code := orderflow(ctx, argv, &out, &errOut)
	os.Stdout, os.Stderr = origOut, origErr
	outFile.Close()
	errFile.Close()
	osOut, _ := os.ReadFile(outFile.Name())
	osErr, _ := os.ReadFile(errFile.Name())
	return code, out.String() + string(osOut), errOut.String() + string(osErr)
}
