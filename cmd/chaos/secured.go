package main

import (
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderflow/orderflow/internal/testenv"
)

// registryClient is chaos's own client of the registry, with the suites' credentials and CA.
func (r *runner) registryClient() (*sr.Client, error) {
	opts, err := testenv.RegistryClientOpts(testenv.RegistryUser(), testenv.RegistryPassword())
	if err != nil {
		return nil, err
	}
	return sr.NewClient(append([]sr.ClientOpt{sr.URLs(r.o.registry)}, opts...)...)
}

// securedArgs are the flags that let a role process reach the secured registry and Redis of
// scripts/services (testenv.ChildArgs), the passwords in files of the run directory.
func (r *runner) securedArgs() ([]string, error) {
	return testenv.ChildArgs(r.dir, r.o.registry, r.o.redis, true)
}
