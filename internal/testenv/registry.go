package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/internal/tlsfiles"
)

// The schema registry's variables (scripts/services/env.sh).
const (
	envRegistry           = "ORDERFLOW_TEST_REGISTRY"             // Confluent API base URL, https:// for TLS
	envRegistryUser       = "ORDERFLOW_TEST_REGISTRY_USER"        // basic auth, read and write
	envRegistryPassword   = "ORDERFLOW_TEST_REGISTRY_PASSWORD"    //
	envRegistryROUser     = "ORDERFLOW_TEST_REGISTRY_RO_USER"     // basic auth, read only
	envRegistryROPassword = "ORDERFLOW_TEST_REGISTRY_RO_PASSWORD" //
	envCAFile             = "ORDERFLOW_TEST_CA_FILE"              // the CA of every service's certificate
)

// RegistryURL is the real schema registry's URL (ORDERFLOW_TEST_REGISTRY), or "" when the suites
// use srfake.
func RegistryURL() string { return os.Getenv(envRegistry) }

// RegistryUser is the read-write user of the real registry ("" without auth).
func RegistryUser() string { return os.Getenv(envRegistryUser) }

// RegistryPassword is RegistryUser's password.
func RegistryPassword() string { return os.Getenv(envRegistryPassword) }

// CAFile is the PEM file of the CA that signed the real services' certificates
// (ORDERFLOW_TEST_CA_FILE), "" for the system roots.
func CAFile() string { return os.Getenv(envCAFile) }

// RegistryOpts are the options, besides sr.URLs, of a client of the real registry as its
// read-write user: basic auth and, for https://, the test CA. Nil when no real registry is set.
func RegistryOpts(t testing.TB) []sr.ClientOpt {
	t.Helper()
	opts, err := RegistryClientOpts(RegistryUser(), RegistryPassword())
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// ReadOnlyRegistryOpts are RegistryOpts for the read-only user
// (ORDERFLOW_TEST_REGISTRY_RO_USER); the test is skipped when the registry has none.
func ReadOnlyRegistryOpts(t testing.TB) []sr.ClientOpt {
	t.Helper()
	user := os.Getenv(envRegistryROUser)
	if user == "" {
		t.Skipf("%s is not set: the registry has no read-only user", envRegistryROUser)
	}
	opts, err := RegistryClientOpts(user, os.Getenv(envRegistryROPassword))
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// RegistryClient is a client of the real registry as its read-write user; the test fails if it
// can not be built. Nil when no real registry is set.
func RegistryClient(t testing.TB) *sr.Client {
	t.Helper()
	if RegistryURL() == "" {
		return nil
	}
	cl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(RegistryURL())}, RegistryOpts(t)...)...)
	if err != nil {
		t.Fatalf("%s: %v", envRegistry, err)
	}
	return cl
}

// RegistryClientOpts are RegistryOpts for user and password, for programs (cmd/chaos) that have
// no testing.TB.
func RegistryClientOpts(user, password string) ([]sr.ClientOpt, error) {
	url := RegistryURL()
	if url == "" {
		return nil, nil
	}
	var opts []sr.ClientOpt
	if user != "" {
		opts = append(opts, sr.BasicAuth(user, password))
	}
	if strings.HasPrefix(url, "https://") && CAFile() != "" {
		tc, err := tlsfiles.Config{Enabled: true, CAFile: CAFile()}.Load()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envCAFile, err)
		}
		opts = append(opts, sr.DialTLSConfig(tc))
	}
	return opts, nil
}
