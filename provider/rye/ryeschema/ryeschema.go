// Package ryeschema holds the one description of Rye's real GraphQL API in this repository
// (schema.graphql, with its sources in its header). provider/rye's client is generated from it,
// sandbox/ryefake serves it, and the package's test validates every operation against it.
package ryeschema

import _ "embed"

// SDL is the schema, in GraphQL schema definition language.
//
//go:embed schema.graphql
var SDL string
