package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestChildArgsPutPasswordsInFiles(t *testing.T) {
	t.Setenv(envRegistryUser, "orderflow")
	t.Setenv(envRegistryPassword, "reg-secret")
	t.Setenv(envCAFile, "/ca.pem")
	dir := t.TempDir()
	args, err := ChildArgs(dir, "https://127.0.0.1:8443/apis/ccompat/v7", "rediss://app:redis-secret@127.0.0.1:6380/0", true)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, secret := range []string{"reg-secret", "redis-secret"} {
		if strings.Contains(joined, secret) {
			t.Errorf("a password is on the command line: %q", args)
		}
	}
	want := []string{
		"--registry-user", "orderflow", "--registry-password-file", filepath.Join(dir, "registry-password"),
		"--registry-ca-file", "/ca.pem",
		"--redis-password-file", filepath.Join(dir, "redis-password"), "--redis-user", "app",
		"--redis", "rediss://127.0.0.1:6380/0", "--redis-ca-file", "/ca.pem",
	}
	if !slices.Equal(args, want) {
		t.Errorf("args\n got %q\nwant %q", args, want)
	}
	for file, want := range map[string]string{"registry-password": "reg-secret\n", "redis-password": "redis-secret\n"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", file, b, err, want)
		}
		if fi, err := os.Stat(filepath.Join(dir, file)); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", file, fi.Mode().Perm())
		}
	}

	// Without registry auth (the embedded registry) and over plain redis://: only --redis.
	args, err = ChildArgs(dir, "http://127.0.0.1:8081", "redis://127.0.0.1:6379/0", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--redis", "redis://127.0.0.1:6379/0"}; !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
}
