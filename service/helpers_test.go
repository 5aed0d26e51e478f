package service_test

import "github.com/orderflow/orderflow/idempotency"

func idempotencyConfig(run string) idempotency.Config { return idempotency.Config{Prefix: run} }
