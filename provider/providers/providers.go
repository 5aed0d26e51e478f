// Package providers is the list of the providers orderflow is built with. It is the one place
// that names the adapters: cmd, service, embedded, the sandbox and dlq iterate over All.
// Adding a provider is its adapter's folder (with its provider.Descriptor) plus one line here;
// see "Add a provider" in ARCHITECTURE.md.
package providers

import (
	"github.com/orderflow/orderflow/provider"
	"github.com/orderflow/orderflow/provider/digitalriver"
	"github.com/orderflow/orderflow/provider/rye"
)

// All returns the built-in providers' descriptors, in a fixed order. The slice is new on
// every call: a caller may append to it (a test adding a provider of its own).
func All() []provider.Descriptor {
	return []provider.Descriptor{
		rye.Descriptor,
		digitalriver.Descriptor,
	}
}
