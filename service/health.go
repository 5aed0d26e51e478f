package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// CheckTimeout bounds each readiness check, so a probe answers within about a second even when
// a dependency hangs.
const CheckTimeout = time.Second

// Check is the outcome of one readiness check.
type Check struct {
	// Name is "group:<role>" (the role's consumer group) or a dependency: DependencyRedis,
	// DependencyRegistry (Ready's checks) or DependencyKafka (the dependency watch's only).
	Name string
	// Err is nil when the check passed. Its text names no secret: Redis and the registry are
	// named by their role, never by URL (the HTTP client strips passwords from URLs in errors).
	Err error
}

// readiness is what Ready and the dependency watch need, captured by New, so neither races
// with Close.
type readiness struct {
	rdb    *redis.Client
	reg    *sr.Client
	kafka  *kgo.Client             // the producer's client
	joined map[string]*atomic.Bool // role -> joined its group at least once
}

// errNotJoined is a role's check until its consumer group answered a join.
var errNotJoined = errors.New("consumer group not joined yet")

// Ready runs the readiness checks concurrently, each bounded by CheckTimeout, and returns them
// in a fixed order: every role's group, then redis, then registry. A role is ready once its
// consumer joined its group (JoinGroup answered with a generation) at least once since start;
// a later rebalance does not make it unready. Redis must answer PING and the registry GET /mode.
// The checks are cheap: the group state is local, Redis and the registry get one request each.
func (s *Service) Ready(ctx context.Context) []Check {
	checks := make([]Check, 0, len(s.cfg.Roles)+2)
	for _, role := range s.cfg.Roles {
		checks = append(checks, Check{Name: "group:" + role, Err: s.joined(role)})
	}
	return append(checks, s.runChecks(ctx, DependencyRedis, DependencyRegistry)...)
}

// Dependencies, the names of their checks (Check.Name) and the values of
// orderflow_dependency_up's dependency label.
const (
	DependencyRedis    = "redis"
	DependencyRegistry = "registry"
	DependencyKafka    = "kafka"
)

// runChecks runs the named dependency checks concurrently, each bounded by CheckTimeout, and
// returns them in the order named.
func (s *Service) runChecks(ctx context.Context, names ...string) []Check {
	checks := make([]Check, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		checks[i].Name = name
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			checks[i].Err = s.check(ctx, name)
		})
	}
	wg.Wait()
	return checks
}

// check asks one dependency: Redis PING, the registry GET /mode, Kafka ApiVersions from any
// broker the producer knows (kgo's Ping).
func (s *Service) check(ctx context.Context, name string) error {
	switch name {
	case DependencyRedis:
		if err := s.ready.rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis ping: %w", err)
		}
	case DependencyRegistry:
		if res := s.ready.reg.Mode(ctx); len(res) == 0 || res[0].Err != nil {
			var err error = errors.New("no answer")
			if len(res) > 0 {
				err = res[0].Err
			}
			return fmt.Errorf("schema registry GET /mode: %w", err)
		}
	case DependencyKafka:
		if err := s.ready.kafka.Ping(ctx); err != nil {
			return fmt.Errorf("kafka: no broker answered: %w", err)
		}
	default:
		return fmt.Errorf("unknown dependency %q", name)
	}
	return nil
}

// joined reports whether role's consumer joined its group, remembering the first join.
func (s *Service) joined(role string) error {
	flag := s.ready.joined[role]
	if flag.Load() {
		return nil
	}
	if _, gen := s.consumers[role].Client().GroupMetadata(); gen < 0 {
		return errNotJoined
	}
	flag.Store(true)
	return nil
}
