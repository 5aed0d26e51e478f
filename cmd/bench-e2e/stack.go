package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/tlsfiles"
	"github.com/orderflow/orderflow/service"
)

// stack is where Kafka, the registry and Redis are: in this process (kfake, srfake, miniredis)
// or the real services of scripts/services (testenv's ORDERFLOW_TEST_* variables).
type stack struct {
	name         string
	brokers      []string
	kafka        kafkasec.Config
	kafkaOpts    []kgo.Opt // security only
	registryURL  string
	registryOpts []sr.ClientOpt
	redisURL     string // may carry the user and password: never printed
	redisTLS     *tls.Config
	mr           *miniredis.Miniredis

	closers []func()
}

func embeddedStack(partitions int) (*stack, error) {
	s := &stack{name: "embedded (kfake, srfake, miniredis in the bench process; orderflow its own process)"}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(partitions),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("starting kfake: %w", err)
	}
	s.brokers = c.ListenAddrs()
	s.closers = append(s.closers, c.Close)
	reg := srfake.New()
	s.registryURL = reg.URL()
	s.closers = append(s.closers, reg.Close)
	mr, err := miniredis.Run()
	if err != nil {
		s.close()
		return nil, fmt.Errorf("starting miniredis: %w", err)
	}
	s.mr, s.redisURL = mr, "redis://"+mr.Addr()+"/0"
	s.closers = append(s.closers, mr.Close)
	return s, nil
}

func realStack() (*stack, error) {
	s := &stack{name: "real services (ORDERFLOW_TEST_*: Kafka SASL_SSL, registry TLS + basic auth, Redis TLS + ACL)",
		brokers: testenv.Brokers(), registryURL: testenv.RegistryURL(), redisURL: testenv.RedisURL()}
	if s.brokers == nil || s.registryURL == "" || s.redisURL == "" {
		return nil, errors.New(`-real needs ORDERFLOW_TEST_BROKERS, _REGISTRY and _REDIS: eval "$(scripts/services/env.sh)"`)
	}
	s.kafka = testenv.Kafka()
	var err error
	if s.kafkaOpts, err = s.kafka.Opts(); err != nil {
		return nil, fmt.Errorf("the ORDERFLOW_TEST_KAFKA_* settings: %w", err)
	}
	if s.registryOpts, err = testenv.RegistryClientOpts(testenv.RegistryUser(), testenv.RegistryPassword()); err != nil {
		return nil, err
	}
	if opt, err := redis.ParseURL(s.redisURL); err == nil && opt.TLSConfig != nil && testenv.CAFile() != "" {
		if s.redisTLS, err = (tlsfiles.Config{Enabled: true, CAFile: testenv.CAFile()}).Load(); err != nil {
			return nil, err
		}
		s.redisTLS.ServerName = opt.TLSConfig.ServerName
	}
	return s, nil
}

func (s *stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// redisClient is a client of the stack's Redis with a pool of poolSize connections.
func (s *stack) redisClient(poolSize int) (*redis.Client, error) {
	opt, err := service.RedisOptions(s.redisURL, "", "", s.redisTLS)
	if err != nil {
		return nil, err
	}
	opt.PoolSize = poolSize
	return redis.NewClient(opt), nil
}

// childArgs are orderflow's flags to reach the stack, and childEnv its environment: the Kafka
// password through ORDERFLOW_KAFKA_SASL_PASSWORD and the registry's and Redis's in files of
// dir, so no password is on a command line.
func (s *stack) child(dir string) (args, env []string, err error) {
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORDERFLOW_") {
			env = append(env, kv)
		}
	}
	if k := s.kafka; k.Enabled() {
		env = append(env, "ORDERFLOW_KAFKA_TLS="+strconv.FormatBool(k.TLS.Enabled), "ORDERFLOW_KAFKA_CA_FILE="+k.TLS.CAFile,
			"ORDERFLOW_KAFKA_SASL_MECHANISM="+k.Mechanism, "ORDERFLOW_KAFKA_SASL_USER="+k.User, "ORDERFLOW_KAFKA_SASL_PASSWORD="+k.Password)
	}
	args = []string{"--brokers", strings.Join(s.brokers, ","), "--registry", s.registryURL}
	secured, err := testenv.ChildArgs(dir, s.registryURL, s.redisURL, s.mr == nil) // the embedded registry has no auth
	if err != nil {
		return nil, nil, err
	}
	return append(args, secured...), env, nil
}

// commandStats are the calls per command Redis itself counted (INFO commandstats): commands
// a Lua script runs inside Redis included, which no client sees. nil when the server does not
// report them (miniredis).
func commandStats(ctx context.Context, rdb *redis.Client) map[string]int64 {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// statsDelta is after - before per command, without the INFO calls that read them.
func statsDelta(before, after map[string]int64) map[string]int64 {
	if before == nil || after == nil {
		return nil
	}
	d := map[string]int64{}
	for k, v := range after {
		if n := v - before[k]; n > 0 && k != "info" {
			d[k] = n
		}
	}
	return d
}
