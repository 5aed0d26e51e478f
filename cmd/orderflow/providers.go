package main

import (
	"fmt"
	"maps"
	"slices"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
	"github.com/orderflow/orderflow/ratelimit"
)

// flagged is what the command line says about one provider: its real endpoint (empty URL =
// the in-process sandbox) and, for run, overrides of its shared rate limits.
type flagged struct {
	urlFlag  string // the flag naming the URL, for errors
	url, key string
	rates    []rateFlag
}

// rateFlag is one rate-limit flag: the tiers of provider.Limits it sets (tierSubmit, tierOther
// or both) and its value, nil when not given.
type rateFlag struct {
	flag  string // for errors
	tiers tier
	value *float64
}

// tier is a set of provider.Limits fields.
type tier int

const (
	tierSubmit tier = 1 << iota // Limits.Submit
	tierOther                   // Limits.Other
)

// set applies the flag's value to l.
func (f rateFlag) set(l *ratelimit.Limits) {
	if f.tiers&tierSubmit != 0 {
		l.Submit = *f.value
	}
	if f.tiers&tierOther != 0 {
		l.Other = *f.value
	}
}

// providerFlags binds the providers' command-line flags to their descriptors' names. It is the
// one place in cmd that names a provider: the flags are the operators' interface and keep their
// names (--rye-url, --dr-url, ...). A provider without flags here runs on the sandbox only. The
// rate flags' defaults are the descriptors' DefaultLimits (TestRateFlagsHelpStatesTheDefaults).
func providerFlags(ryeURL, ryeKey, drURL, drKey string, ryeStrictRPS, ryeDefaultRPS, drRPS *float64) map[string]flagged {
	return map[string]flagged{
		"rye": {urlFlag: "--rye-url", url: ryeURL, key: ryeKey, rates: []rateFlag{
			{flag: "--rye-strict-rps", tiers: tierSubmit, value: ryeStrictRPS},
			{flag: "--rye-default-rps", tiers: tierOther, value: ryeDefaultRPS},
		}},
		"digitalriver": {urlFlag: "--dr-url", url: drURL, key: drKey, rates: []rateFlag{
			{flag: "--dr-rps", tiers: tierSubmit | tierOther, value: drRPS},
		}},
	}
}

func (c *runCmd) flags() map[string]flagged {
	return providerFlags(c.RyeURL, c.RyeKey, c.DRURL, c.DRKey, c.RyeStrictRPS, c.RyeDefaultRPS, c.DRRPS)
}

func (c *dlqCmd) flags() map[string]flagged {
	return providerFlags(c.RyeURL, c.RyeKey, c.DRURL, c.DRKey, nil, nil, nil)
}

// realProviders builds a client of every provider whose flags give a URL, keyed by name, each
// with a connection pool for maxConns calls at once (0: provider.DefaultMaxConns).
func realProviders(descs []provider.Descriptor, flags map[string]flagged, maxConns int) (map[string]provider.Provider, error) {
	ps := map[string]provider.Provider{}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		f := flags[name]
		if f.url == "" {
			continue
		}
		d, ok := provider.Find(descs, name)
		if !ok {
			return nil, fmt.Errorf("%s: no provider %q is registered", f.urlFlag, name)
		}
		p, err := d.New(provider.Settings{BaseURL: f.url, APIKey: f.key, MaxConns: maxConns})
		if err != nil {
			return nil, err
		}
		ps[name] = p
	}
	return ps, nil
}

// overrideLimits applies the rate-limit flags to limits: a provider a flag names starts from
// its entry in limits, else its descriptor's DefaultLimits. limits nil and no flag set: nil
// (every provider keeps its default).
func overrideLimits(descs []provider.Descriptor, flags map[string]flagged, limits map[string]ratelimit.Limits) map[string]ratelimit.Limits {
	for _, d := range descs {
		for _, r := range flags[d.Name].rates {
			if r.value == nil {
				continue
			}
			if limits == nil {
				limits = map[string]ratelimit.Limits{}
			}
			l, ok := limits[d.Name]
			if !ok {
				l = d.DefaultLimits
			}
			r.set(&l)
			limits[d.Name] = l
		}
	}
	return limits
}

// registered is every provider this binary is built with.
func registered() []provider.Descriptor { return providers.All() }

// providerKeys are the providers' key flags as secrets (value or -file), for resolveSecrets.
func providerKeys(ryeKey, ryeKeyFile, drKey, drKeyFile *string) []secretFlag {
	return []secretFlag{{"--rye-key", ryeKey, ryeKeyFile}, {"--dr-key", drKey, drKeyFile}}
}
