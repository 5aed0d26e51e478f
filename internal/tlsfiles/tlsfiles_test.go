package tlsfiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCA(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCA(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)

	if cfg, err := (Config{}).Load(); cfg != nil || err != nil {
		t.Fatalf("off: got %v, %v; want nil, nil", cfg, err)
	}
	cfg, err := Config{Enabled: true, CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "kafka.internal"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "kafka.internal" {
		t.Fatalf("config not built from the files: %+v", cfg)
	}
	if cfg, err := (Config{Enabled: true}).Load(); err != nil || cfg == nil || cfg.RootCAs != nil {
		t.Fatalf("system roots: got %+v, %v", cfg, err)
	}
	for name, c := range map[string]Config{
		"files with TLS off": {CAFile: cert},
		"missing CA":         {Enabled: true, CAFile: filepath.Join(dir, "none.pem")},
		"CA not PEM":         {Enabled: true, CAFile: garbage},
		"cert without key":   {Enabled: true, CertFile: cert},
		"key not matching":   {Enabled: true, CertFile: cert, KeyFile: garbage},
	} {
		_, err := c.Load()
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "not a certificate") {
			t.Errorf("%s: error shows the file's content: %v", name, err)
		}
	}
}
