package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	os.WriteFile(file, []byte("s3cr3t-value\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)

	if got, err := secret("--rye-key", "inline", ""); err != nil || got != "inline" {
		t.Fatalf("value: %q, %v", got, err)
	}
	if got, err := secret("--rye-key", "", file); err != nil || got != "s3cr3t-value" {
		t.Fatalf("file: %q, %v (want the file without its trailing newline)", got, err)
	}
	for name, c := range map[string][2]string{
		"both":    {"inline-s3cr3t-value", file},
		"missing": {"", filepath.Join(dir, "none")},
		"empty":   {"", empty},
	} {
		_, err := secret("--rye-key", c[0], c[1])
		var ce configError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a configError (exit 2)", name, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t-value") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
		if !strings.Contains(err.Error(), "--rye-key") {
			t.Errorf("%s: the error does not name the flag: %v", name, err)
		}
	}
}
