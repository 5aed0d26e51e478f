package testenv

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// ChildArgs are the flags that let an orderflow process started by a harness (make chaos, make
// bench-e2e) reach the registry at registryURL and Redis at redisURL: the registry's user of
// RegistryUser (when registryAuth), Redis's ACL user taken out of the URL, the test CA for
// https:// and rediss://, and every password in a file of dir (mode 0600), so no password is
// on a command line (ps) or in a log. It ends with --redis and the URL without its user.
func ChildArgs(dir, registryURL, redisURL string, registryAuth bool) ([]string, error) {
	var args []string
	secret := func(name, value string) (string, error) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing %s: %w", p, err)
		}
		return p, nil
	}
	ca := CAFile()
	if user := RegistryUser(); user != "" && registryAuth {
		f, err := secret("registry-password", RegistryPassword())
		if err != nil {
			return nil, err
		}
		args = append(args, "--registry-user", user, "--registry-password-file", f)
	}
	if ca != "" && strings.HasPrefix(registryURL, "https://") {
		args = append(args, "--registry-ca-file", ca)
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return nil, errors.New("the Redis URL does not parse") // the URL may hold a password: not quoted
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			f, err := secret("redis-password", pw)
			if err != nil {
				return nil, err
			}
			args = append(args, "--redis-password-file", f)
		}
		if name := u.User.Username(); name != "" {
			args = append(args, "--redis-user", name)
		}
		u.User = nil
	}
	args = append(args, "--redis", u.String())
	if ca != "" && u.Scheme == "rediss" {
		args = append(args, "--redis-ca-file", ca)
	}
	return args, nil
}
