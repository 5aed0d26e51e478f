package testenv

import (
	"crypto/tls"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/tlsfiles"
)

// envRedis is the real Redis's URL: rediss://user:password@host:port/db for TLS with an ACL user.
const envRedis = "ORDERFLOW_TEST_REDIS"

// RedisURL is the real Redis's URL (ORDERFLOW_TEST_REDIS), or "" when the suites use miniredis.
// Keys the suites write on it must start with "orderflow" (the test ACL user may touch only
// orderflow* keys).
func RedisURL() string { return os.Getenv(envRedis) }

// RedisTLS is the TLS configuration of a rediss:// RedisURL (the test CA), nil for redis:// or
// when no CA file is set.
func RedisTLS(t testing.TB) *tls.Config {
	t.Helper()
	tc, err := redisTLS()
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// RedisOptions are the go-redis options of the real Redis with its TLS; nil when no real Redis
// is set.
func RedisOptions(t testing.TB) *redis.Options {
	t.Helper()
	if RedisURL() == "" {
		return nil
	}
	opt, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("%s: %v", envRedis, err)
	}
	if tc := RedisTLS(t); tc != nil {
		tc.ServerName = opt.TLSConfig.ServerName
		opt.TLSConfig = tc
	}
	return opt
}

// redisTLS is RedisTLS without a testing.TB.
func redisTLS() (*tls.Config, error) {
	opt, err := redis.ParseURL(RedisURL())
	if RedisURL() == "" || err != nil || opt.TLSConfig == nil || CAFile() == "" {
		return nil, nil // no TLS; a bad URL is reported by whoever parses it
	}
	tc, err := tlsfiles.Config{Enabled: true, CAFile: CAFile()}.Load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCAFile, err)
	}
	return tc, nil
}
