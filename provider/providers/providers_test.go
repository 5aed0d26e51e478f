package providers_test

import (
	"testing"

	"github.com/orderflow/orderflow/processor"
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/providers"
)

// Every registered descriptor is complete: in particular no provider lacks default limits,
// which would make it silently unlimited.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	prefixes := map[string]bool{}
	for _, d := range providers.All() {
		if err := d.Validate(); err != nil {
			t.Error(err)
		}
		if seen[d.Name] || prefixes[d.SandboxPrefix] {
			t.Errorf("provider %q: name or sandbox prefix %q registered twice", d.Name, d.SandboxPrefix)
		}
		seen[d.Name], prefixes[d.SandboxPrefix] = true, true
		for _, f := range d.CheckoutFixes {
			if f.Phase != "" && f.Phase != processor.PhaseCart && f.Phase != processor.PhaseSubmission && f.Phase != processor.PhasePlacement {
				t.Errorf("provider %q: checkout fix for unknown phase %q", d.Name, f.Phase)
			}
		}
	}
	if len(seen) < 2 {
		t.Fatalf("registry lists %d providers, want rye and digitalriver at least", len(seen))
	}
}

// Validate refuses the traps of a new descriptor, one by one.
func TestDescriptorValidate(t *testing.T) {
	good := providers.All()[0]
	for name, mutate := range map[string]func(*provider.Descriptor){
		"no name":           func(d *provider.Descriptor) { d.Name = "" },
		"name with a colon": func(d *provider.Descriptor) { d.Name = "a:b" },
		"no default limits": func(d *provider.Descriptor) { d.DefaultLimits = provider.Limits{} },
		"no submit limit":   func(d *provider.Descriptor) { d.DefaultLimits.Submit = 0 },
		"no client":         func(d *provider.Descriptor) { d.New = nil },
		"no simulator":      func(d *provider.Descriptor) { d.Sandbox = nil },
		"bad prefix":        func(d *provider.Descriptor) { d.SandboxPrefix = "rye/" },
		"fix without action": func(d *provider.Descriptor) {
			d.CheckoutFixes = []provider.CheckoutFix{{Phase: processor.PhaseSubmission}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := good
			mutate(&d)
			if err := d.Validate(); err == nil {
				t.Errorf("Validate accepted %+v", d)
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}
