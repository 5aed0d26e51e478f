package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/internal/tlsfiles"
	"github.com/orderflow/orderflow/service"
)

// registryFlags are the schema registry's credentials and TLS files, the same on every command
// that talks to the registry (run, send, dlq). The URL flag stays with each command: its
// default and whether it is required differ.
type registryFlags struct {
	RegistryUser         string `arg:"--registry-user,env:ORDERFLOW_REGISTRY_USER" help:"schema registry basic auth user"`
	RegistryPassword     string `arg:"--registry-password,env:ORDERFLOW_REGISTRY_PASSWORD" help:"schema registry basic auth password (prefer --registry-password-file)"`
	RegistryPasswordFile string `arg:"--registry-password-file,env:ORDERFLOW_REGISTRY_PASSWORD_FILE" help:"file holding the registry password (kept out of ps and the environment)"`
	RegistryCAFile       string `arg:"--registry-ca-file,env:ORDERFLOW_REGISTRY_CA_FILE" help:"PEM CA bundle to trust for an https:// registry (default: the system's roots)"`
	RegistryCertFile     string `arg:"--registry-cert-file,env:ORDERFLOW_REGISTRY_CERT_FILE" help:"PEM client certificate for mutual TLS with the registry (with --registry-key-file)"`
	RegistryKeyFile      string `arg:"--registry-key-file,env:ORDERFLOW_REGISTRY_KEY_FILE" help:"PEM key of --registry-cert-file"`
	RegisterSchemas      bool   `arg:"--register-schemas,env:ORDERFLOW_REGISTER_SCHEMAS" default:"true" help:"register the schemas and set BACKWARD compatibility at startup; --register-schemas=false only looks them up (a read-only registry key), and a schema not registered is an error naming its subject"`
}

// client is a registry client for url with these settings.
func (f registryFlags) client(url string) (*sr.Client, error) {
	opts, err := f.opts(url)
	if err != nil {
		return nil, err
	}
	cl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(url)}, opts...)...)
	if err != nil {
		return nil, configError{fmt.Errorf("--registry: %w", err)}
	}
	return cl, nil
}

// opts are the sr client options, besides the URL, for the registry at url: basic auth, TLS.
// Mistakes are configErrors naming the flag, never the password.
func (f registryFlags) opts(url string) ([]sr.ClientOpt, error) {
	password, err := secret("--registry-password", f.RegistryPassword, f.RegistryPasswordFile)
	if err != nil {
		return nil, err
	}
	var opts []sr.ClientOpt
	switch {
	case f.RegistryUser != "" && password != "":
		opts = append(opts, sr.BasicAuth(f.RegistryUser, password))
	case f.RegistryUser != "":
		return nil, configError{errors.New("--registry-user needs --registry-password or --registry-password-file")}
	case password != "":
		return nil, configError{errors.New("--registry-password needs --registry-user")}
	}
	files := tlsfiles.Config{Enabled: strings.HasPrefix(url, "https://"), CAFile: f.RegistryCAFile, CertFile: f.RegistryCertFile, KeyFile: f.RegistryKeyFile}
	if !files.Enabled && (files.CAFile != "" || files.CertFile != "" || files.KeyFile != "") {
		return nil, configError{errors.New("--registry-ca-file, --registry-cert-file and --registry-key-file need an https:// --registry")}
	}
	tc, err := files.Load()
	if err != nil {
		return nil, configError{fmt.Errorf("registry TLS: %w", err)}
	}
	if tc != nil && (files.CAFile != "" || files.CertFile != "") {
		opts = append(opts, sr.DialTLSConfig(tc))
	}
	return opts, nil
}

// registryError makes err a configError when the registry refused the credentials or the
// operation, lacks a schema to look up, or its certificate does not verify (service.RegistryRefused):
// exit code 2, as orderflow run reports the same errors.
func registryError(err error) error {
	if service.RegistryRefused(err) {
		return configError{err}
	}
	return err
}

// set reports whether any credential or TLS file is given (they need a --registry).
func (f registryFlags) set() bool {
	return f.RegistryUser != "" || f.RegistryPassword != "" || f.RegistryPasswordFile != "" ||
		f.RegistryCAFile != "" || f.RegistryCertFile != "" || f.RegistryKeyFile != ""
}

// redisFlags are Redis's ACL credentials and TLS files, on every command that talks to Redis (run,
// dlq). Credentials may be in the URL (rediss://user:password@host); these flags replace them, so
// the password need not be in a URL or in ps.
type redisFlags struct {
	RedisUser         string `arg:"--redis-user,env:ORDERFLOW_REDIS_USER" help:"Redis ACL user (replaces the URL's)"`
	RedisPassword     string `arg:"--redis-password,env:ORDERFLOW_REDIS_PASSWORD" help:"Redis password (replaces the URL's; prefer --redis-password-file)"`
	RedisPasswordFile string `arg:"--redis-password-file,env:ORDERFLOW_REDIS_PASSWORD_FILE" help:"file holding the Redis password (kept out of ps and the environment)"`
	RedisCAFile       string `arg:"--redis-ca-file,env:ORDERFLOW_REDIS_CA_FILE" help:"PEM CA bundle to trust for a rediss:// Redis (default: the system's roots)"`
	RedisCertFile     string `arg:"--redis-cert-file,env:ORDERFLOW_REDIS_CERT_FILE" help:"PEM client certificate for mutual TLS with Redis (with --redis-key-file)"`
	RedisKeyFile      string `arg:"--redis-key-file,env:ORDERFLOW_REDIS_KEY_FILE" help:"PEM key of --redis-cert-file"`
}

// redisConn is what the service and the dlq tool need besides the URL (service.RedisOptions).
type redisConn struct {
	user, password string
	tls            *tls.Config // nil: the URL's own (system roots for rediss://)
}

// conn resolves the password file and loads the TLS files for the Redis at url.
func (f redisFlags) conn(url string) (redisConn, error) {
	password, err := secret("--redis-password", f.RedisPassword, f.RedisPasswordFile)
	if err != nil {
		return redisConn{}, err
	}
	c := redisConn{user: f.RedisUser, password: password}
	files := tlsfiles.Config{Enabled: strings.HasPrefix(url, "rediss://"), CAFile: f.RedisCAFile, CertFile: f.RedisCertFile, KeyFile: f.RedisKeyFile}
	if !files.Enabled && (files.CAFile != "" || files.CertFile != "" || files.KeyFile != "") {
		return redisConn{}, configError{errors.New("--redis-ca-file, --redis-cert-file and --redis-key-file need a rediss:// --redis")}
	}
	tc, err := files.Load()
	if err != nil {
		return redisConn{}, configError{fmt.Errorf("redis TLS: %w", err)}
	}
	if tc != nil && (files.CAFile != "" || files.CertFile != "") {
		c.tls = tc
	}
	return c, nil
}

// set reports whether any credential or TLS file is given (they need a --redis).
func (f redisFlags) set() bool {
	return f.RedisUser != "" || f.RedisPassword != "" || f.RedisPasswordFile != "" ||
		f.RedisCAFile != "" || f.RedisCertFile != "" || f.RedisKeyFile != ""
}
