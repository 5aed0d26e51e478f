package main

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alexflint/go-arg"

	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/ratelimit"
)

// The rate-limit flags override a provider's limits from its descriptor's defaults (or the
// embedded demo's), and leave every provider no flag names alone.
func TestOverrideLimits(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	demo := func() map[string]ratelimit.Limits {
		return map[string]ratelimit.Limits{"rye": {Submit: 500, Other: 2000}, "digitalriver": {Submit: 500, Other: 2000}}
	}
	for _, tc := range []struct {
		name                  string
		ryeStrict, ryeDef, dr *float64
		limits                map[string]ratelimit.Limits
		want                  map[string]ratelimit.Limits
	}{
		{name: "no flags, no limits", want: nil},
		{name: "rye strict from its defaults", ryeStrict: f(3), want: map[string]ratelimit.Limits{"rye": {Submit: 3, Other: 100}}},
		{name: "rye default from its defaults", ryeDef: f(400), want: map[string]ratelimit.Limits{"rye": {Submit: 1, Other: 400}}},
		{name: "both rye tiers", ryeStrict: f(2), ryeDef: f(0), want: map[string]ratelimit.Limits{"rye": {Submit: 2, Other: 0}}},
		{name: "dr rps, both tiers", dr: f(7), want: map[string]ratelimit.Limits{"digitalriver": {Submit: 7, Other: 7}}},
		{name: "over the demo's limits", ryeStrict: f(0), limits: demo(),
			want: map[string]ratelimit.Limits{"rye": {Submit: 0, Other: 2000}, "digitalriver": {Submit: 500, Other: 2000}}},
		{name: "no flags keep the demo's", limits: demo(), want: demo()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := overrideLimits(registered(), providerFlags("", "", "", "", tc.ryeStrict, tc.ryeDef, tc.dr), tc.limits)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Every rate-limit flag is in `orderflow run --help` with its environment variable and the
// default its provider's descriptor documents, so help and descriptor can not drift apart; and
// the variable sets the limit like the flag.
func TestRateFlagsHelpStatesTheDefaults(t *testing.T) {
	var a args
	p, err := arg.NewParser(arg.Config{Program: "orderflow"}, &a)
	if err != nil {
		t.Fatal(err)
	}
	var help strings.Builder
	if err := p.WriteHelpForSubcommand(&help, "run"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(help.String(), "\n")
	n := 0
	for name, f := range providerFlags("", "", "", "", nil, nil, nil) {
		d, ok := provider.Find(registered(), name)
		if !ok {
			t.Fatalf("flags for %q, which is not registered", name)
		}
		for _, r := range f.rates {
			n++
			def := map[tier]float64{tierSubmit: d.DefaultLimits.Submit, tierOther: d.DefaultLimits.Other}
			if r.tiers == tierSubmit|tierOther {
				if d.DefaultLimits.Submit != d.DefaultLimits.Other {
					t.Fatalf("%s sets both tiers of %s, whose defaults differ: %+v", r.flag, name, d.DefaultLimits)
				}
				def[r.tiers] = d.DefaultLimits.Submit
			}
			i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), r.flag+" ") })
			if i < 0 {
				t.Errorf("%s is not in run's help", r.flag)
				continue
			}
			// go-arg wraps a long help text; the entry ends at the next flag.
			entry := lines[i]
			for _, l := range lines[i+1:] {
				if strings.HasPrefix(strings.TrimSpace(l), "--") {
					break
				}
				entry += " " + strings.TrimSpace(l)
			}
			env := "ORDERFLOW_" + strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(r.flag, "--"), "-", "_"))
			if want := fmt.Sprintf("(default %g,", def[r.tiers]); !strings.Contains(entry, want) || !strings.Contains(entry, "env: "+env) {
				t.Errorf("help of %s: %q, want it to state %q (the descriptor's) and env: %s", r.flag, entry, want, env)
			}
			t.Setenv(env, "7")
			c, err := parseRun(t)
			if err != nil {
				t.Fatal(err)
			}
			got := overrideLimits(registered(), c.flags(), nil)[name]
			want := d.DefaultLimits
			seven := 7.0
			rateFlag{tiers: r.tiers, value: &seven}.set(&want)
			if got != want {
				t.Errorf("%s=7: limits %+v, want %+v", env, got, want)
			}
			os.Unsetenv(env) // t.Setenv restores it at the end; the next flag parses without it
		}
	}
	if n < 3 {
		t.Fatalf("%d rate flags, want one per tier of every provider", n)
	}
}

// A URL flag builds that provider's real client through its descriptor; none builds nothing.
func TestRealProviders(t *testing.T) {
	ps, err := realProviders(registered(), providerFlags("", "", "https://dr.example", "sk_test_x", nil, nil, nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps["digitalriver"] == nil || ps["digitalriver"].Name() != "digitalriver" {
		t.Fatalf("providers %v, want only digitalriver", ps)
	}
	if ps, err := realProviders(registered(), providerFlags("", "", "", "", nil, nil, nil), 0); err != nil || len(ps) != 0 {
		t.Fatalf("no URL flags: %v, %v", ps, err)
	}
}

// realProviders gives every client it builds the connection-pool size it is given: run passes
// service.Config.ProviderConns, so the pools follow the in-flight cap.
func TestRealProvidersSizeThePools(t *testing.T) {
	got := map[string]int{}
	record := func(name string) provider.Descriptor {
		return provider.Descriptor{Name: name, New: func(s provider.Settings) (provider.Provider, error) {
			got[name] = s.MaxConns
			return nil, nil
		}}
	}
	descs := []provider.Descriptor{record("rye"), record("digitalriver")}
	if _, err := realProviders(descs, providerFlags("https://rye.example", "k", "https://dr.example", "sk_test_x", nil, nil, nil), 14); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"rye": 14, "digitalriver": 14}; !reflect.DeepEqual(got, want) {
		t.Fatalf("MaxConns per client %v, want %v", got, want)
	}
}
