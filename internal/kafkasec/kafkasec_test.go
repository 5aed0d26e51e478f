package kafkasec_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/tlsfiles"
)

const password = "planted-kafka-password-7f3a"

func TestValidate(t *testing.T) {
	on := tlsfiles.Config{Enabled: true}
	for _, tc := range []struct {
		name string
		cfg  kafkasec.Config
		err  string // "" = valid
	}{
		{name: "zero: plaintext", cfg: kafkasec.Config{}},
		{name: "TLS only", cfg: kafkasec.Config{TLS: on}},
		{name: "SCRAM over TLS", cfg: kafkasec.Config{TLS: on, Mechanism: "SCRAM-SHA-512", User: "u", Password: password}},
		{name: "mechanism in lower case", cfg: kafkasec.Config{Mechanism: "scram-sha-256", User: "u", Password: password}},
		{name: "PLAIN without TLS", cfg: kafkasec.Config{Mechanism: "PLAIN", User: "u", Password: password}},
		{name: "unknown mechanism", cfg: kafkasec.Config{Mechanism: "GSSAPI", User: "u", Password: password}, err: `SASL mechanism "GSSAPI": want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{name: "no user", cfg: kafkasec.Config{Mechanism: "PLAIN", Password: password}, err: "needs a user"},
		{name: "no password", cfg: kafkasec.Config{Mechanism: "PLAIN", User: "u"}, err: "needs a password"},
		{name: "password without mechanism", cfg: kafkasec.Config{User: "u", Password: password}, err: "without a SASL mechanism"},
		{name: "CA file with TLS off", cfg: kafkasec.Config{TLS: tlsfiles.Config{CAFile: "/ca.pem"}}, err: "TLS is off"},
		{name: "server name with TLS off", cfg: kafkasec.Config{TLS: tlsfiles.Config{ServerName: "kafka"}}, err: "TLS is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want one containing %q", err, tc.err)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestOpts(t *testing.T) {
	if opts, err := (kafkasec.Config{}).Opts(); err != nil || opts != nil {
		t.Fatalf("zero config: %v, %v; want no options", opts, err)
	}
	dir := t.TempDir()
	ca := newCA(t)
	caFile := ca.write(t, dir)
	for _, tc := range []struct {
		name  string
		cfg   kafkasec.Config
		nopts int
		err   string
	}{
		{name: "TLS", cfg: kafkasec.Config{TLS: tlsfiles.Config{Enabled: true, CAFile: caFile}}, nopts: 1},
		{name: "SASL", cfg: kafkasec.Config{Mechanism: "PLAIN", User: "u", Password: password}, nopts: 1},
		{name: "both", cfg: kafkasec.Config{TLS: tlsfiles.Config{Enabled: true}, Mechanism: "SCRAM-SHA-256", User: "u", Password: password}, nopts: 2},
		{name: "missing CA file", cfg: kafkasec.Config{TLS: tlsfiles.Config{Enabled: true, CAFile: filepath.Join(dir, "none.pem")}, Mechanism: "PLAIN", User: "u", Password: password}, err: "CA file"},
		{name: "invalid", cfg: kafkasec.Config{Mechanism: "PLAIN", Password: password}, err: "needs a user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.cfg.Opts()
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("err %v, want one containing %q", err, tc.err)
			case tc.err != "" && strings.Contains(err.Error(), password):
				t.Fatalf("the error shows the password: %v", err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case len(opts) != tc.nopts:
				t.Fatalf("%d options, want %d", len(opts), tc.nopts)
			}
		})
	}
}

// TestKfake is the hermetic round trip: kfake with TLS and SASL users for every mechanism;
// each mechanism produces and consumes a record; a wrong password, an untrusted CA and a wrong
// server name come back as errors, not hangs. (kfake drops the connection of a failed SASL
// exchange where Kafka answers SASL_AUTHENTICATION_FAILED: TestRealBroker checks that answer.)
func TestKfake(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	caFile := ca.write(t, dir)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.TLS(ca.serverTLS(t)), kfake.EnableSASL(),
		kfake.Superuser(kafkasec.Plain, "orderflow", password),
		kfake.Superuser(kafkasec.ScramSHA256, "orderflow", password),
		kfake.Superuser(kafkasec.ScramSHA512, "orderflow", password))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	tlsOn := tlsfiles.Config{Enabled: true, CAFile: caFile}
	for _, m := range kafkasec.Mechanisms {
		t.Run(m, func(t *testing.T) {
			roundTrip(t, cluster.ListenAddrs(), kafkasec.Config{TLS: tlsOn, Mechanism: m, User: "orderflow", Password: password})
			rejected(t, cluster.ListenAddrs(), kafkasec.Config{TLS: tlsOn, Mechanism: m, User: "orderflow", Password: "wrong-" + password})
		})
	}
	t.Run("untrusted CA", func(t *testing.T) {
		other := newCA(t).write(t, t.TempDir())
		err := rejected(t, cluster.ListenAddrs(), kafkasec.Config{TLS: tlsfiles.Config{Enabled: true, CAFile: other},
			Mechanism: kafkasec.ScramSHA512, User: "orderflow", Password: password})
		if !kafkasec.Refused(err) {
			t.Fatalf("%v: not recognized as a refusal", err)
		}
	})
	t.Run("wrong server name", func(t *testing.T) {
		err := rejected(t, cluster.ListenAddrs(), kafkasec.Config{TLS: tlsfiles.Config{Enabled: true, CAFile: caFile, ServerName: "kafka.example"},
			Mechanism: kafkasec.ScramSHA512, User: "orderflow", Password: password})
		if !kafkasec.Refused(err) {
			t.Fatalf("%v: not recognized as a refusal", err)
		}
	})
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{fmt.Errorf("creating topics: %w", kerr.SaslAuthenticationFailed), true},
		{fmt.Errorf("x: %w", kerr.TopicAuthorizationFailed), true},
		{fmt.Errorf("x: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), false},
		{context.DeadlineExceeded, false},
		{kerr.NotLeaderForPartition, false},
	} {
		if got := kafkasec.Refused(tc.err); got != tc.want {
			t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// roundTrip produces one record with cfg's options and consumes it back.
func roundTrip(t *testing.T, brokers []string, cfg kafkasec.Config) {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topic := fmt.Sprintf("kafkasec-%s-%d", strings.ToLower(cfg.Mechanism), time.Now().UnixNano())
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := "over " + cfg.Mechanism
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming: %v", err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("consuming: %v", errs[0].Err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			if got := string(recs[0].Value); got != value {
				t.Fatalf("consumed %q, want %q", got, value)
			}
			return
		}
	}
}

// rejected asks the brokers for metadata with cfg's options and returns the error, which must
// come before the deadline and must not show the password.
func rejected(t *testing.T, brokers []string, cfg kafkasec.Config) error {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	err = cl.Ping(ctx)
	switch {
	case err == nil:
		t.Fatal("the broker accepted the connection")
	case ctx.Err() != nil:
		t.Fatalf("no answer before the deadline: %v", err)
	case strings.Contains(err.Error(), cfg.Password) && cfg.Password != "":
		t.Fatalf("the error shows the password: %v", err)
	}
	return err
}

// testCA is a throwaway CA whose server certificate is for 127.0.0.1 and localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafkasec test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca testCA) write(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (ca testCA) serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// TestRealBroker runs against the broker of ORDERFLOW_TEST_BROKERS (scripts/services: its
// SASL_SSL listener, whose test user has credentials for every mechanism): each mechanism
// produces and consumes a record, and a wrong password is Kafka's SASL_AUTHENTICATION_FAILED,
// which Refused recognizes. Without the variables there is no broker to test against.
func TestRealBroker(t *testing.T) {
	brokers := testenv.Brokers()
	if brokers == nil {
		t.Skip("ORDERFLOW_TEST_BROKERS is not set (scripts/services/env.sh sets it)")
	}
	base := testenv.Kafka()
	if base.Mechanism == "" {
		t.Fatalf("%s points at brokers but %s is not set: this test checks SASL", testenv.EnvBrokers, testenv.EnvSASLMechanism)
	}
	for _, m := range kafkasec.Mechanisms {
		t.Run(m, func(t *testing.T) {
			cfg := base
			cfg.Mechanism = m
			roundTrip(t, brokers, cfg)
			cfg.Password = "wrong-" + base.Password
			err := rejected(t, brokers, cfg)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || !kafkasec.Refused(err) {
				t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED (Refused)", err)
			}
		})
	}
}
