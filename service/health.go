package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/sr"
)

// CheckTimeout bounds each readiness check, so a probe answers within about a second even when
// a dependency hangs.
const CheckTimeout = time.Second

// Check is the outcome of one readiness check.
type Check struct {
	// Name is "group:<role>" (the role's consumer group), "redis" or "registry".
	Name string
	// Err is nil when the check passed. Its text names no secret: Redis and the registry are
	// named by their role, never by URL (the HTTP client strips passwords from URLs in errors).
	Err error
}

// readiness is what Ready needs, captured by New, so Ready never races with Close.
type readiness struct {
	rdb    *redis.Client
	reg    *sr.Client
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
	checks = append(checks, Check{Name: "redis"}, Check{Name: "registry"})
	redisCheck, regCheck := &checks[len(checks)-2], &checks[len(checks)-1]
	var wg sync.WaitGroup
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		if err := s.ready.rdb.Ping(ctx).Err(); err != nil {
			redisCheck.Err = fmt.Errorf("redis ping: %w", err)
		}
	})
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
		if res := s.ready.reg.Mode(ctx); len(res) == 0 || res[0].Err != nil {
			var err error = errors.New("no answer")
			if len(res) > 0 {
				err = res[0].Err
			}
			regCheck.Err = fmt.Errorf("schema registry GET /mode: %w", err)
		}
	})
	wg.Wait()
	return checks
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
