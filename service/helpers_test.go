package service_test

import (
	"net/url"

	"github.com/orderflow/orderflow/idempotency"
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
