package toy

import "github.com/orderflow/orderflow/provider"

// Descriptor describes the toy provider: everything the rest of orderflow needs to run it.
var Descriptor = provider.Descriptor{
	Name:          Name,
	DefaultLimits: provider.Limits{Submit: 50, Other: 50},
	New:           func(s provider.Settings) (provider.Provider, error) { return New(s) },
	SandboxPrefix: "/toy",
	Sandbox:       Fake,
}
