package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alexflint/go-arg"
)

// --log-format json writes one JSON object per line with level and msg; text stays the default;
// a bad format or level is a configuration error (exit code 2).
func TestLogFormat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		argv   []string
		env    map[string]string
		check  func(t *testing.T, out string)
		reject string // substring of the error; "" = valid
	}{
		{name: "default text", argv: []string{"run"}, check: func(t *testing.T, out string) {
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="a dependency is slow"`) {
				t.Errorf("text line %q", out)
			}
		}},
		{name: "json", argv: []string{"--log-format", "json", "--log-level", "info", "run"}, check: func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("%d lines, want 2 (info and warn): %q", len(lines), out)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
				t.Fatalf("line %q is not JSON: %v", lines[1], err)
			}
			if rec["level"] != "WARN" || rec["msg"] != "a dependency is slow" || rec["order_id"] != "o-1" {
				t.Errorf("record %v: want level WARN, msg and order_id", rec)
			}
		}},
		{name: "json from the environment", argv: []string{"run"}, env: map[string]string{"ORDERFLOW_LOG_FORMAT": "json"}, check: func(t *testing.T, out string) {
			if !json.Valid([]byte(strings.TrimSpace(out))) {
				t.Errorf("not JSON: %q", out)
			}
		}},
		{name: "unknown format", argv: []string{"--log-format", "yaml", "run"}, reject: `--log-format: "yaml": want text or json`},
		{name: "unknown level", argv: []string{"--log-level", "loud", "sandbox"}, reject: `--log-level: "loud"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var a args
			p, err := arg.NewParser(arg.Config{}, &a)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Parse(tc.argv); err != nil {
				t.Fatalf("parsing %q: %v", tc.argv, err)
			}
			var buf bytes.Buffer
			log, err := newLogger(&buf, a.LogFormat, a.LogLevel)
			if tc.reject != "" {
				if err == nil || !strings.Contains(err.Error(), tc.reject) {
					t.Fatalf("newLogger: %v, want an error saying %q", err, tc.reject)
				}
				if code := exitCode(err); code != 2 {
					t.Errorf("exit code %d, want 2", code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Info("starting")
			log.Warn("a dependency is slow", "order_id", "o-1")
			tc.check(t, buf.String())
		})
	}
}
