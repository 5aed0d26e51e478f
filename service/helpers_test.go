package service_test

import (
	"crypto/tls"
	"net/url"
	"testing"

	"github.com/orderflow/orderflow/idempotency"
	"github.com/orderflow/orderflow/internal/testenv"
)

// idempotencyConfig is a test run's Redis namespace. It starts with "orderflow": the real test
// Redis's ACL user may touch only orderflow* keys (scripts/services/redis.sh).
func idempotencyConfig(run string) idempotency.Config {
	return idempotency.Config{Prefix: "orderflow-test:" + run}
}

// redacted is a Redis or registry URL without its password, for test messages.
func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

// redisTLS is the test CA's TLS configuration for the real Redis, nil for any other (a test's own
// miniredis).
func redisTLS(t *testing.T, redisURL string) *tls.Config {
	t.Helper()
	if redisURL != testenv.RedisURL() {
		return nil
	}
	return testenv.RedisTLS(t)
}
