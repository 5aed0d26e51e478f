package main

import (
	"reflect"
	"testing"

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
		name    string
		rye, dr *float64
		limits  map[string]ratelimit.Limits
		want    map[string]ratelimit.Limits
	}{
		{name: "no flags, no limits", want: nil},
		{name: "rye submit from its defaults", rye: f(3), want: map[string]ratelimit.Limits{"rye": {Submit: 3, Other: 100}}},
		{name: "dr rps, both tiers", dr: f(7), want: map[string]ratelimit.Limits{"digitalriver": {Submit: 7, Other: 7}}},
		{name: "over the demo's limits", rye: f(0), limits: demo(),
			want: map[string]ratelimit.Limits{"rye": {Submit: 0, Other: 2000}, "digitalriver": {Submit: 500, Other: 2000}}},
		{name: "no flags keep the demo's", limits: demo(), want: demo()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := overrideLimits(registered(), providerFlags("", "", "", "", tc.rye, tc.dr), tc.limits)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// A URL flag builds that provider's real client through its descriptor; none builds nothing.
func TestRealProviders(t *testing.T) {
	ps, err := realProviders(registered(), providerFlags("", "", "https://dr.example", "sk_test_x", nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps["digitalriver"] == nil || ps["digitalriver"].Name() != "digitalriver" {
		t.Fatalf("providers %v, want only digitalriver", ps)
	}
	if ps, err := realProviders(registered(), providerFlags("", "", "", "", nil, nil)); err != nil || len(ps) != 0 {
		t.Fatalf("no URL flags: %v, %v", ps, err)
	}
}
