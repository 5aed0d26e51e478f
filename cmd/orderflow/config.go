package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/service"
)

// configError is a flag or setting that can never work: it is reported at once with exit code
// 2, like a usage error, instead of being retried as if a dependency were unreachable.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// validate checks every flag of run before anything starts and reports every mistake at once.
// It changes nothing: roles and tiers give the parsed lists.
func (c *runCmd) validate() error {
	var errs []string
	bad := func(flag, format string, a ...any) {
		errs = append(errs, flag+": "+fmt.Sprintf(format, a...))
	}
	if err := checkTopicPrefix(c.Prefix); err != nil {
		bad("--prefix", "%v", err)
	}
	if c.RedisPrefix != "" && strings.TrimSpace(c.RedisPrefix) != c.RedisPrefix {
		bad("--redis-prefix", "%q has leading or trailing spaces", c.RedisPrefix)
	}
	for _, r := range c.roles() {
		if !slices.Contains(service.AllRoles, r) {
			bad("--roles", "unknown role %q (want %s)", r, strings.Join(service.AllRoles, ", "))
		}
	}
	if _, err := c.tiers(); err != nil {
		bad("--retry-tiers", "%v", err)
	}
	if c.Pprof && c.MetricsAddr == "" {
		bad("--pprof", "needs --metrics-addr: the profiles are served on the metrics server")
	}
	if c.Redis != "" {
		if _, err := redis.ParseURL(c.Redis); err != nil {
			bad("--redis", "%s: %v (want redis://, rediss:// or unix://)", redactURL(c.Redis), err)
		}
	}
	urls := []struct{ flag, value string }{{"--registry", c.Registry}}
	for _, name := range slices.Sorted(maps.Keys(c.flags())) {
		f := c.flags()[name]
		urls = append(urls, struct{ flag, value string }{f.urlFlag, f.url})
	}
	for _, u := range urls {
		if u.value == "" {
			continue
		}
		if err := checkHTTPURL(u.value); err != nil {
			bad(u.flag, "%s: %v", redactURL(u.value), err)
		}
	}
	if c.Registry == "" && c.registryFlags.set() {
		bad("--registry-user/-password/-ca-file/-cert-file/-key-file", "need --registry (the embedded registry has no auth or TLS)")
	}
	if c.Registry == "" && !c.RegisterSchemas {
		bad("--register-schemas", "false needs --registry: the embedded registry starts empty")
	}
	if c.Redis == "" && c.redisFlags.set() {
		bad("--redis-user/-password/-ca-file/-cert-file/-key-file", "need --redis (the embedded Redis has no auth or TLS)")
	}
	for _, b := range c.Brokers {
		if b == "" || strings.Contains(b, "://") {
			bad("--brokers", "%q: want host:port", b)
		}
	}
	if len(c.Brokers) == 0 && c.kafkaFlags.set() {
		bad("--kafka-*", "TLS and SASL need --brokers (the embedded Kafka has neither)")
	}
	errs = append(errs, c.kafkaFlags.validate()...)
	if c.Orders < 0 {
		bad("--orders", "%d: must not be negative", c.Orders)
	}
	if c.Rate <= 0 {
		bad("--rate", "%g: must be positive", c.Rate)
	}
	if c.StartTimeout <= 0 {
		bad("--start-timeout", "%v: must be positive", c.StartTimeout)
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--first-poll", c.FirstPoll}, {"--poll-interval", c.PollInterval}, {"--never-started-after", c.NeverStartedAfter}, {"--stuck-after", c.StuckAfter},
		{"--action-timeout", c.ActionTimeout}, {"--session-timeout", c.SessionTimeout}, {"--lease", c.Lease},
	} {
		if d.value < 0 {
			bad(d.flag, "%v: must not be negative (0 or unset: the default)", d.value)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.flags())) {
		f := c.flags()[name]
		for _, r := range f.rates {
			if r.value != nil && *r.value < 0 {
				bad(r.flag, "%g: must not be negative (0: unlimited)", *r.value)
			}
		}
	}
	if len(errs) > 0 {
		return configError{errors.New(strings.Join(errs, "; "))}
	}
	return nil
}

// newLogger is the logger of every subcommand: --log-format text (slog's TextHandler) or json
// (JSONHandler: one object per line with time, level, msg and the attributes) at --log-level,
// written to w. A bad value is a configError (exit code 2).
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var errs []string
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Sprintf("--log-level: %q: want debug, info, warn or error", level))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		errs = append(errs, fmt.Sprintf("--log-format: %q: want text or json", format))
	}
	if len(errs) > 0 {
		return nil, configError{errors.New(strings.Join(errs, "; "))}
	}
	return slog.New(h), nil
}

// roles is --roles as a list: each value may hold several roles, space- or comma-separated.
func (c *runCmd) roles() []string { return splitList(c.Roles) }

// tiers parses --retry-tiers: durations, space- or comma-separated in one value or several,
// each positive and longer than the one before (each names its topic, orders.retry.<d>).
func (c *runCmd) tiers() ([]time.Duration, error) {
	var out []time.Duration
	for _, s := range splitList(c.Tiers) {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q is not a duration such as 500ms or 2s", s)
		case d <= 0:
			return nil, fmt.Errorf("%s: a delay tier must be positive", s)
		case len(out) > 0 && d <= out[len(out)-1]:
			return nil, fmt.Errorf("%s after %s: tiers must be ascending and distinct", d, out[len(out)-1])
		}
		out = append(out, d)
	}
	return out, nil
}

// splitList splits every value at spaces and commas: "--roles worker,tracker",
// "--retry-tiers '500ms 2s'" and repeated values all read as lists.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })...)
	}
	return out
}

// checkTopicPrefix accepts what Kafka accepts in a topic name (ASCII letters, digits, '.', '_',
// '-'), leaving room for the longest topic name orderflow derives from it.
func checkTopicPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty: it keeps this deployment's topics, groups and Redis keys apart")
	case len(p) > 200:
		return fmt.Errorf("%d characters: at most 200", len(p))
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q: Kafka names allow only ASCII letters, digits, '.', '_' and '-'", p)
		}
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: want http:// or https://", u.Scheme)
	case u.Host == "":
		return errors.New("no host")
	}
	return nil
}

// redactURL is s without its password, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}
