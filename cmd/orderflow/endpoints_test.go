package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/internal/testenv"
)

// The registry and Redis flags: what they need with them, password files, TLS only with TLS URLs.
func TestEndpointFlags(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		argv []string
		want string // substring of the configError; "" = valid
	}{
		{"registry user and password file", []string{"--registry", "https://r", "--registry-user", "u", "--registry-password-file", pwFile}, ""},
		{"registry user without password", []string{"--registry", "https://r", "--registry-user", "u"}, "--registry-user needs --registry-password"},
		{"registry password without user", []string{"--registry", "https://r", "--registry-password", "from-flag-s3cret"}, "--registry-password needs --registry-user"},
		{"registry password twice", []string{"--registry", "https://r", "--registry-user", "u", "--registry-password", "from-flag-s3cret", "--registry-password-file", pwFile}, "both set"},
		{"registry CA for http", []string{"--registry", "http://r", "--registry-ca-file", ca}, "need an https:// --registry"},
		{"registry CA not PEM", []string{"--registry", "https://r", "--registry-ca-file", ca}, "no PEM certificate"},
		{"registry cert without key", []string{"--registry", "https://r", "--registry-cert-file", ca}, "both its certificate file and its key file"},
		{"redis user and password file", []string{"--redis", "rediss://h:6380/0", "--redis-user", "u", "--redis-password-file", pwFile}, ""},
		{"redis CA for redis://", []string{"--redis", "redis://h:6379/0", "--redis-ca-file", ca}, "need a rediss:// --redis"},
		{"redis CA not PEM", []string{"--redis", "rediss://h:6380/0", "--redis-ca-file", ca}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseRun(t, tc.argv...)
			if err != nil {
				t.Fatal(err)
			}
			if err = c.validate(); err == nil && c.Registry != "" {
				_, err = c.registryFlags.opts(c.Registry)
			}
			if err == nil && c.Redis != "" {
				_, err = c.redisFlags.conn(c.Redis)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%v", err)
			case tc.want == "":
				return
			case err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, new(configError)):
				t.Fatalf("%v; want a configError with %q", err, tc.want)
			case strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	// Without a registry or Redis to apply to, the settings are refused.
	for _, argv := range [][]string{{"--registry-user", "u"}, {"--register-schemas=false"}, {"--redis-password", "p"}} {
		c, err := parseRun(t, argv...)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.validate(); err == nil {
			t.Errorf("run %v on the embedded stack: accepted", argv)
		}
	}
	// The password reaches the client: Redis's replaces the URL's.
	c, err := parseRun(t, "--redis", "rediss://url-user:url-pass@h:6380/0", "--redis-user", "flag-user", "--redis-password-file", pwFile)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.redisFlags.conn(c.Redis)
	if err != nil || rc.user != "flag-user" || rc.password != "from-file-s3cret" {
		t.Fatalf("redis credentials %q/%q, %v; want the flags'", rc.user, rc.password, err)
	}
}

// runOrderflow runs argv as main does and returns the exit code and everything printed (to the
// writers and to os.Stdout/os.Stderr: runCaptured). A start that retried instead of stopping would
// run into runCaptured's deadline, far before --start-timeout.
func runOrderflow(t *testing.T, argv ...string) (int, string) {
	t.Helper()
	code, stdout, stderr := runCaptured(t, append(argv, "--start-timeout", "1h"))
	return code, stdout + stderr
}

// Planted registry and Redis passwords never appear in the banner, a log line (at debug level)
// or an error, whether the start works or a dependency refuses them.
func TestRegistryAndRedisPasswordsNeverShown(t *testing.T) {
	for _, k := range []string{"ORDERFLOW_BROKERS", "ORDERFLOW_REGISTRY", "ORDERFLOW_REDIS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	const regPass, redisPass = "planted-registry-pw-4711", "planted-redis-pw-0815"
	fake := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("svc:"+regPass))))
	t.Cleanup(fake.Close)
	mr := miniredis.RunT(t)
	mr.RequireUserAuth("svc", redisPass)
	pwFile := filepath.Join(t.TempDir(), "redis-pw")
	if err := os.WriteFile(pwFile, []byte(redisPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(registryPass, redisURL string) []string {
		return []string{"--log-level", "debug", "run", "--orders", "3", "--skeleton", "--prefix", fmt.Sprintf("planted%d.", time.Now().UnixNano()),
			"--registry", fake.URL(), "--registry-user", "svc", "--registry-password", registryPass,
			"--redis", redisURL}
	}
	for _, tc := range []struct {
		name string
		argv []string
		want int
		msg  string
	}{
		{"accepted", append(base(regPass, "redis://"+mr.Addr()+"/0"), "--redis-user", "svc", "--redis-password", redisPass), 0, "final tally"},
		{"password file", append(base(regPass, "redis://"+mr.Addr()+"/0"), "--redis-user", "svc", "--redis-password-file", pwFile), 0, "final tally"},
		{"in the URL", base(regPass, "redis://svc:"+redisPass+"@"+mr.Addr()+"/0"), 0, "redis://svc:xxxxx@"},
		{"registry refuses", append(base(regPass+"-wrong", "redis://"+mr.Addr()+"/0"), "--redis-user", "svc", "--redis-password", redisPass), 2, "HTTP 403"},
		{"redis refuses", append(base(regPass, "redis://"+mr.Addr()+"/0"), "--redis-user", "svc", "--redis-password", redisPass+"-wrong"), 2, "WRONGPASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runOrderflow(t, tc.argv...)
			if code != tc.want || !strings.Contains(out, tc.msg) {
				t.Fatalf("exit code %d, want %d with %q in the output:\n%s", code, tc.want, tc.msg, out)
			}
			for _, p := range []string{regPass, redisPass} {
				if strings.Contains(out, p) {
					t.Fatalf("the output shows a password:\n%s", out)
				}
			}
		})
	}
}

// TestSecuredServices runs orderflow against the real registry (basic auth over TLS) and Redis
// (TLS, ACL user) of scripts/services, on the embedded Kafka: the right credentials work, a
// wrong password stops the start at once (exit 2) with a message and no password, and
// --register-schemas=false works with the read-only registry user once the schemas are
// registered, writing nothing (the read-only user may not write, and the versions stay).
func TestSecuredServices(t *testing.T) {
	regURL, redisURL := testenv.RegistryURL(), testenv.RedisURL()
	if regURL == "" || redisURL == "" || testenv.RegistryUser() == "" {
		t.Skip("ORDERFLOW_TEST_REGISTRY(_USER) and ORDERFLOW_TEST_REDIS are not set (scripts/services/env.sh)")
	}
	for _, k := range []string{"ORDERFLOW_BROKERS", "ORDERFLOW_REGISTRY", "ORDERFLOW_REDIS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	redisOpt := testenv.RedisOptions(t)
	if redisOpt.TLSConfig == nil || redisOpt.Username == "" {
		t.Fatalf("ORDERFLOW_TEST_REDIS is not TLS with an ACL user (rediss://user:password@...)")
	}
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	roUser, roPass := os.Getenv("ORDERFLOW_TEST_REGISTRY_RO_USER"), os.Getenv("ORDERFLOW_TEST_REGISTRY_RO_PASSWORD")
	regPW, roPW := file("registry-pw", testenv.RegistryPassword()), file("registry-ro-pw", roPass)
	redisPW, wrongPW := file("redis-pw", redisOpt.Password), file("wrong-pw", "wrong-password-1234")
	// The Redis URL without its credentials: they come from the flags.
	bareRedis := "rediss://" + redisOpt.Addr + fmt.Sprintf("/%d", redisOpt.DB)
	prefix := fmt.Sprintf("secured%d.", time.Now().UnixNano())
	argv := func(user, regPWFile, redisPWFile, topicPrefix string, more ...string) []string {
		return append([]string{"run", "--orders", "3", "--skeleton", "--prefix", topicPrefix,
			"--registry", regURL, "--registry-user", user, "--registry-password-file", regPWFile, "--registry-ca-file", testenv.CAFile(),
			"--redis", bareRedis, "--redis-user", redisOpt.Username, "--redis-password-file", redisPWFile, "--redis-ca-file", testenv.CAFile()}, more...)
	}
	secrets := []string{testenv.RegistryPassword(), redisOpt.Password, roPass, "wrong-password-1234"}
	for _, tc := range []struct {
		name string
		argv []string
		want int
		msg  string
		ro   bool // needs the read-only user
	}{
		{"registers over TLS with basic auth, Redis over TLS as ACL user", argv(testenv.RegistryUser(), regPW, redisPW, prefix), 0, "final tally", false},
		{"wrong registry password", argv(testenv.RegistryUser(), wrongPW, redisPW, prefix), 2, "HTTP 401", false},
		{"wrong redis password", argv(testenv.RegistryUser(), regPW, wrongPW, prefix), 2, "WRONGPASS", false},
		{"read-only key looks the schemas up", argv(roUser, roPW, redisPW, prefix, "--register-schemas=false"), 0, "final tally", true},
		{"read-only key may not register", argv(roUser, roPW, redisPW, prefix), 2, "HTTP 403", true},
		{"read-only key, schemas missing", argv(roUser, roPW, redisPW, prefix+"missing.", "--register-schemas=false"), 2, "not registered under subject " + prefix + "missing.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ro && roUser == "" {
				t.Skip("ORDERFLOW_TEST_REGISTRY_RO_USER is not set")
			}
			code, out := runOrderflow(t, tc.argv...)
			if code != tc.want || !strings.Contains(out, tc.msg) {
				t.Fatalf("exit code %d, want %d with %q in the output:\n%s", code, tc.want, tc.msg, out)
			}
			for _, s := range secrets {
				if s != "" && strings.Contains(out, s) {
					t.Fatalf("the output shows a password:\n%s", out)
				}
			}
		})
	}
	// The lookup-only runs wrote no version: every subject of the deployment has the one the
	// first run registered.
	reg := testenv.RegistryClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subjects, err := reg.Subjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ours int
	for _, s := range subjects {
		if !strings.HasPrefix(s, prefix) {
			continue
		}
		ours++
		vs, err := reg.SubjectVersions(ctx, s)
		if err != nil || len(vs) != 1 {
			t.Errorf("subject %s: versions %v, %v; want the one registered", s, vs, err)
		}
	}
	if ours == 0 {
		t.Fatalf("no subject of %s in the registry", prefix)
	}
	var re *sr.ResponseError
	if _, err := reg.SubjectVersions(ctx, prefix+"missing.requests-value"); !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Errorf("the failed lookup-only run left subject %srequests-value: %v", prefix+"missing.", err)
	}
}
