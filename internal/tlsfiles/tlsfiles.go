// Package tlsfiles builds a client *tls.Config from PEM files, the way operators hand
// certificates to a service: a CA bundle to trust, and optionally a client certificate and key
// for mutual TLS. Kafka, the schema registry and Redis clients all use it, so every connection
// reads its certificates the same way and reports a bad file the same way.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config names the PEM files of one TLS connection. The zero Config with Enabled false means
// plain TCP.
type Config struct {
	Enabled bool // TLS on; with no CAFile the system roots are trusted
	// CAFile is a PEM bundle of the CAs that may sign the server's certificate (empty: the
	// system's roots).
	CAFile string
	// CertFile and KeyFile are the client certificate and its key for mutual TLS; both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name checked against the server's certificate (empty: the host
	// dialled).
	ServerName string
}

// Load reads the files. It returns nil, nil when TLS is off. Errors name the file, never its
// content.
func (c Config) Load() (*tls.Config, error) {
	if !c.Enabled {
		if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" {
			return nil, errors.New("TLS files given but TLS is off")
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// tls's message names the files' problem (no PEM block, mismatched key), not their bytes.
			return nil, fmt.Errorf("client certificate %s / key %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case c.CertFile != "" || c.KeyFile != "":
		return nil, errors.New("a client certificate needs both its certificate file and its key file")
	}
	return cfg, nil
}
