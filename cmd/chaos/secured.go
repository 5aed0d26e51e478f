package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/internal/testenv"
)

// registryClient is chaos's own client of the registry, with the suites' credentials and CA.
func (r *runner) registryClient() (*sr.Client, error) {
	opts, err := testenv.RegistryClientOpts(testenv.RegistryUser(), testenv.RegistryPassword())
	if err != nil {
		return nil, err
	}
	return sr.NewClient(append([]sr.ClientOpt{sr.URLs(r.o.registry)}, opts...)...)
}

// securedArgs are the flags that let a role process reach the secured registry and Redis of
// scripts/services (testenv's variables): the registry's user, Redis's ACL user taken out of the
// URL, the test CA for https:// and rediss://, and the passwords in files of the run directory,
// so no password is on a command line (ps) or in a log.
func (r *runner) securedArgs() ([]string, error) {
	var args []string
	ca := testenv.CAFile()
	if user := testenv.RegistryUser(); user != "" {
		f, err := r.secretFile("registry-password", testenv.RegistryPassword())
		if err != nil {
			return nil, err
		}
		args = append(args, "--registry-user", user, "--registry-password-file", f)
	}
	if ca != "" && strings.HasPrefix(r.o.registry, "https://") {
		args = append(args, "--registry-ca-file", ca)
	}
	u, err := url.Parse(r.o.redis)
	if err != nil {
		return nil, fmt.Errorf("-redis: not a URL")
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			f, err := r.secretFile("redis-password", pw)
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

func (r *runner) secretFile(name, value string) (string, error) {
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}
