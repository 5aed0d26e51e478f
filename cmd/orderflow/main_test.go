package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExitCodes runs the command line's entry point: 0 success, 1 failure, 2 usage or
// configuration, in every command. The dead-letter replay cases that need Kafka are in
// TestDLQCommands.
func TestExitCodes(t *testing.T) {
	defaultLog := slog.Default()
	t.Cleanup(func() { slog.SetDefault(defaultLog) })
	for _, k := range []string{"ORDERFLOW_BROKERS", "ORDERFLOW_REGISTRY", "ORDERFLOW_LOG_FORMAT", "ORDERFLOW_LOG_LEVEL",
		"ORDERFLOW_KAFKA_TLS", "ORDERFLOW_KAFKA_SASL_MECHANISM", "ORDERFLOW_KAFKA_SASL_PASSWORD", "ORDERFLOW_KAFKA_SASL_PASSWORD_FILE"} {
		t.Setenv(k, "x")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := file("good.json", `{"order_id":"o-1","provider":"rye","buyer":{"country_code":"US"},
		"items":[{"merchant":"amazon","product_id":"B01","quantity":1,"price_cents":1999}],"requested_at":"2026-01-02T03:04:05Z"}`)
	unknown := file("unknown.json", `{"order_id":"o-1","colour":"red"}`)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Nothing listens on port 1: Kafka and the registry are unreachable.
	unreachable := []string{"--brokers", "127.0.0.1:1", "--registry", "http://127.0.0.1:1"}
	with := func(argv []string, more ...string) []string { return append(append([]string{}, argv...), more...) }

	for _, tc := range []struct {
		name     string
		argv     []string
		canceled bool // the context is canceled from the start (an interrupt)
		want     int
		stderr   string
	}{
		{name: "no command", argv: nil, want: 2},
		{name: "help", argv: []string{"--help"}, want: 0},
		{name: "subcommand help", argv: []string{"dlq", "replay", "--help"}, want: 0},
		{name: "unknown command", argv: []string{"bogus"}, want: 2, stderr: "error:"},
		{name: "unknown flag", argv: []string{"run", "--bogus"}, want: 2, stderr: "unknown argument --bogus"},
		{name: "bad log format", argv: []string{"--log-format", "xml", "sandbox"}, want: 2, stderr: "--log-format"},
		{name: "run: bad role", argv: []string{"run", "--roles", "bogus"}, want: 2, stderr: "invalid configuration"},
		{name: "run: bad flag value", argv: []string{"run", "--start-timeout", "soon"}, want: 2},
		{name: "sandbox: bad setting", argv: []string{"sandbox", "--dr-reused-checkout-status", "999"}, want: 2},
		{name: "sandbox: interrupted", argv: []string{"sandbox", "--addr", "127.0.0.1:0"}, canceled: true, want: 0},
		{name: "sandbox: address in use", argv: []string{"sandbox", "--addr", busy.Addr().String()}, want: 1, stderr: "listening"},
		{name: "send: no file", argv: []string{"send", "--brokers", "k:9092", "--registry", "http://r"}, want: 2, stderr: "file is required"},
		{name: "send: missing file", argv: append([]string{"send"}, with(unreachable, filepath.Join(dir, "nope.json"))...), want: 2},
		{name: "send: unknown field", argv: append([]string{"send"}, with(unreachable, unknown)...), want: 2, stderr: `unknown field "colour"`},
		{name: "send: registry unreachable", argv: append([]string{"send"}, with(unreachable, good)...), want: 1},
		{name: "dlq: no subcommand flags", argv: []string{"dlq", "list"}, want: 2, stderr: "--brokers"},
		{name: "dlq replay: no filter", argv: append([]string{"dlq", "replay"}, unreachable...), want: 2, stderr: "--all"},
		{name: "dlq replay: bad patch", argv: append([]string{"dlq", "replay", "--all", "--patch", "bogus=1"}, unreachable...), want: 2},
		{name: "dlq list: Kafka unreachable", argv: append([]string{"dlq", "list"}, unreachable...), want: 1},
		{name: "run: Kafka TLS without --brokers", argv: []string{"run", "--kafka-tls"}, want: 2, stderr: "need --brokers"},
		{name: "run: unknown SASL mechanism", argv: append([]string{"run", "--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u", "--kafka-sasl-password", "p"}, unreachable...), want: 2, stderr: `SASL mechanism "GSSAPI"`},
		{name: "send: SASL without a password", argv: append([]string{"send", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u"}, with(unreachable, good)...), want: 2, stderr: "needs a password"},
		{name: "send: missing CA file", argv: append([]string{"send", "--kafka-tls", "--kafka-ca-file", filepath.Join(dir, "none.pem")}, with(unreachable, good)...), want: 2, stderr: "CA file"},
		{name: "dlq: password and password file", argv: append([]string{"dlq", "list", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u",
			"--kafka-sasl-password", "p", "--kafka-sasl-password-file", good}, unreachable...), want: 2, stderr: "both set"},
		{name: "dlq: missing key file", argv: append([]string{"dlq", "list", "--rye-key-file", filepath.Join(dir, "none")}, unreachable...), want: 2, stderr: "--rye-key-file"},
		{name: "run: missing key file", argv: []string{"run", "--dr-key-file", filepath.Join(dir, "none")}, want: 2, stderr: "--dr-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if tc.canceled {
				cancel()
			}
			var out, errOut bytes.Buffer
			got := orderflow(ctx, tc.argv, &out, &errOut)
			if got != tc.want || !strings.Contains(errOut.String(), tc.stderr) {
				t.Fatalf("orderflow %s: exit code %d, want %d (stderr wants %q)\nstdout: %s\nstderr: %s",
					strings.Join(tc.argv, " "), got, tc.want, tc.stderr, out.String(), errOut.String())
			}
		})
	}
}
