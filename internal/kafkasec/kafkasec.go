// Package kafkasec turns the security settings of a Kafka connection (TLS files, a SASL
// mechanism and its credentials) into franz-go client options, so every client orderflow builds
// (roles, producers, admin and dead-letter readers) connects to a managed Kafka the same way.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/orderflow/orderflow/internal/tlsfiles"
)

// SASL mechanisms (Kafka's names; Config accepts them in any case).
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms are the SASL mechanisms Config supports.
var Mechanisms = []string{Plain, ScramSHA256, ScramSHA512}

// Config is the security of one Kafka connection. The zero Config is plain TCP without
// authentication (a PLAINTEXT listener).
type Config struct {
	TLS tlsfiles.Config
	// Mechanism is the SASL mechanism, one of Mechanisms; empty means no SASL. PLAIN sends the
	// password as it is: use it only with TLS.
	Mechanism string
	// User and Password authenticate with Mechanism; both are required with it.
	User, Password string
}

// Enabled reports whether c sets anything: TLS or SASL (or a stray setting Validate refuses).
func (c Config) Enabled() bool {
	return c != Config{}
}

// Validate checks c without reading any file. Its errors never contain the password.
func (c Config) Validate() error {
	var errs []error
	if c.Mechanism == "" {
		if c.User != "" || c.Password != "" {
			errs = append(errs, errors.New("a SASL user or password without a SASL mechanism"))
		}
	} else {
		if c.mechanism() == "" {
			errs = append(errs, fmt.Errorf("SASL mechanism %q: want %s", c.Mechanism, strings.Join(Mechanisms, ", ")))
		}
		if c.User == "" {
			errs = append(errs, fmt.Errorf("SASL %s needs a user", c.Mechanism))
		}
		if c.Password == "" {
			errs = append(errs, fmt.Errorf("SASL %s needs a password", c.Mechanism))
		}
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.KeyFile != "" || c.TLS.ServerName != "") {
		errs = append(errs, errors.New("TLS files or a server name given but TLS is off"))
	}
	return errors.Join(errs...)
}

// Opts validates c, reads its TLS files and returns the client options: kgo.DialTLSConfig with
// TLS, kgo.SASL with a mechanism; nil for the zero Config. Errors name files, never the password.
func (c Config) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var opts []kgo.Opt
	tc, err := c.TLS.Load()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc)) // kgo sets ServerName to the dialled host when empty
	}
	if m := c.saslMechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// mechanism is c.Mechanism as Kafka names it, "" when unknown.
func (c Config) mechanism() string {
	for _, m := range Mechanisms {
		if strings.EqualFold(c.Mechanism, m) {
			return m
		}
	}
	return ""
}

func (c Config) saslMechanism() sasl.Mechanism {
	switch c.mechanism() {
	case Plain:
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism()
	case ScramSHA256:
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism()
	case ScramSHA512:
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism()
	}
	return nil
}

// Refused reports whether err (from any franz-go request) means the brokers refused this
// client's security settings rather than being unreachable: authentication failed, the
// mechanism is not enabled, the server's certificate is not trusted or not for that name, or
// the user may not do what was asked. Retrying can not fix these; the configuration must
// change. (A TLS client at a plaintext listener, or the reverse, looks like a broker that
// closes connections: that is retried.)
func Refused(err error) bool {
	if err == nil {
		return false
	}
	for _, k := range []error{
		kerr.SaslAuthenticationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState,
		kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, kerr.DelegationTokenAuthorizationFailed,
	} {
		if errors.Is(err, k) {
			return true
		}
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}
