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
	urlFlag   string // the flag naming the URL, for errors
	url, key  string
	submitRPS *float64 // overrides Limits.Submit
	rps       *float64 // overrides both tiers
	rpsFlag   string   // the flag naming the rate, for errors
}

// providerFlags binds the providers' command-line flags to their descriptors' names. It is the
// one place in cmd that names a provider: the flags are the operators' interface and keep their
// names (--rye-url, --dr-url, ...). A provider without flags here runs on the sandbox only.
func providerFlags(ryeURL, ryeKey, drURL, drKey string, ryeSubmitRPS, drRPS *float64) map[string]flagged {
	return map[string]flagged{
		"rye":          {urlFlag: "--rye-url", url: ryeURL, key: ryeKey, submitRPS: ryeSubmitRPS, rpsFlag: "--rye-submit-rps"},
		"digitalriver": {urlFlag: "--dr-url", url: drURL, key: drKey, rps: drRPS, rpsFlag: "--dr-rps"},
	}
}

func (c *runCmd) flags() map[string]flagged {
	return providerFlags(c.RyeURL, c.RyeKey, c.DRURL, c.DRKey, c.RyeStrictRPS, c.DRRPS)
}

func (c *dlqCmd) flags() map[string]flagged {
	return providerFlags(c.RyeURL, c.RyeKey, c.DRURL, c.DRKey, nil, nil)
}

// realProviders builds a client of every provider whose flags give a URL, keyed by name.
func realProviders(descs []provider.Descriptor, flags map[string]flagged) (map[string]provider.Provider, error) {
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
		p, err := d.New(provider.Settings{BaseURL: f.url, APIKey: f.key})
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
		f := flags[d.Name]
		if f.submitRPS == nil && f.rps == nil {
			continue
		}
		if limits == nil {
			limits = map[string]ratelimit.Limits{}
		}
		l, ok := limits[d.Name]
		if !ok {
			l = d.DefaultLimits
		}
		if f.rps != nil {
			l = ratelimit.Limits{Submit: *f.rps, Other: *f.rps}
		}
		if f.submitRPS != nil {
			l.Submit = *f.submitRPS
		}
		limits[d.Name] = l
	}
	return limits
}

// registered is every provider this binary is built with.
func registered() []provider.Descriptor { return providers.All() }

// providerKeys are the providers' key flags as secrets (value or -file), for resolveSecrets.
func providerKeys(ryeKey, ryeKeyFile, drKey, drKeyFile *string) []secretFlag {
	return []secretFlag{{"--rye-key", ryeKey, ryeKeyFile}, {"--dr-key", drKey, drKeyFile}}
}
