package main

import "runtime/debug"

// version is the build's version, stamped at link time:
//
//	go build -ldflags "-X main.version=$(git describe --tags --always --dirty)" ./cmd/orderflow
//
// The Makefile's build target and the Dockerfile (build arg VERSION) do. Empty when not stamped:
// buildVersion then falls back to the binary's build info.
var version string

// buildVersion is the running build's version: the stamped version; else the main module's
// version (a binary installed with go install module@version); else the VCS revision the go
// command recorded (with "-dirty" for uncommitted changes); else "(devel)".
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "(devel)"
	}
	return rev[:min(len(rev), 12)] + dirty
}

// Version makes go-arg answer --version (and head --help) with the build's version.
func (args) Version() string { return "orderflow " + buildVersion() }
