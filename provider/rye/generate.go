package rye

// genqlient is pinned at v0.8.1 by the tool directive in go.mod (`go get -tool
// github.com/Khan/genqlient@v0.8.1`); `go run github.com/Khan/genqlient@v0.8.1` would build it
// against its own golang.org/x/tools v0.24.0, which does not compile with Go 1.26.
//go:generate go tool genqlient genqlient.yaml
