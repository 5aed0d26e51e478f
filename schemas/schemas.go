// Package schemas holds orderflow's Avro schemas (the .avsc files beside this file), the Go
// types they describe, and a Codec that reads and writes them in the Confluent wire format:
// magic byte 0, a 4-byte big-endian schema id from a schema registry, then the Avro body.
//
// The .avsc files refer to shared types (Item, Attempt, OrderRequested) by full name; Resolve
// inlines the first use of each, so every registered schema is self-contained and any
// Confluent-compatible client can read it without schema references.
package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed *.avsc
var files embed.FS

// Name is the full Avro name of a top-level schema.
type Name string

// The top-level schemas, one per topic kind.
const (
	NameOrderRequested Name = ns + "OrderRequested"
	NameOrderStatus    Name = ns + "OrderStatus"
	NameOrderFailure   Name = ns + "OrderFailure"
	NameDeadLetter     Name = ns + "DeadLetter"
	NameTracking       Name = ns + "Tracking"
	NameReplayAudit    Name = ns + "ReplayAudit"
)

var fileOf = map[string]string{
	ns + "OrderRequested": "order_requested.avsc",
	ns + "OrderStatus":    "order_status.avsc",
	ns + "OrderFailure":   "order_failure.avsc",
	ns + "DeadLetter":     "dead_letter.avsc",
	ns + "Tracking":       "tracking.avsc",
	ns + "Attempt":        "attempt.avsc",
	ns + "ReplayAudit":    "replay_audit.avsc",
}

// Source returns the self-contained schema text of a top-level schema, as registered.
func Source(n Name) (string, error) {
	defs := map[string]any{}
	for full, file := range fileOf {
		b, err := files.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", file, err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			return "", fmt.Errorf("parsing %s: %w", file, err)
		}
		defs[full] = v
	}
	collectNested(defs)
	root, ok := defs[string(n)]
	if !ok {
		return "", fmt.Errorf("unknown schema %s", n)
	}
	out, err := json.Marshal(resolve(deepCopy(root), defs, map[string]bool{}))
	return string(out), err
}

// collectNested adds the named types defined inside the files (Buyer, Item) to defs.
func collectNested(defs map[string]any) {
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if name, ok := t["name"].(string); ok && isNamedType(t["type"]) {
				if _, seen := defs[qualify(name)]; !seen {
					defs[qualify(name)] = t
				}
			}
			for _, c := range t {
				walk(c)
			}
		case []any:
			for _, c := range t {
				walk(c)
			}
		}
	}
	for _, d := range defs {
		walk(d)
	}
}

// resolve walks a schema in document order: the first reference to a known name is replaced
// by its definition, later ones and repeated definitions by the name.
func resolve(v any, defs map[string]any, defined map[string]bool) any {
	switch t := v.(type) {
	case string:
		full := qualify(t)
		if def, ok := defs[full]; ok && !defined[full] {
			return resolve(deepCopy(def), defs, defined)
		}
		if _, ok := defs[full]; ok {
			return full
		}
		return t
	case map[string]any:
		if name, ok := t["name"].(string); ok && isNamedType(t["type"]) {
			full := qualify(name)
			if defined[full] {
				return full
			}
			defined[full] = true
			fields, _ := t["fields"].([]any)
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					fm["type"] = resolve(fm["type"], defs, defined)
				}
			}
			return t
		}
		for _, k := range []string{"items", "values"} {
			if c, ok := t[k]; ok {
				t[k] = resolve(c, defs, defined)
			}
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = resolve(c, defs, defined)
		}
		return t
	}
	return v
}

func isNamedType(t any) bool {
	s, _ := t.(string)
	return s == "record" || s == "enum" || s == "fixed"
}

func qualify(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	switch name {
	case "null", "boolean", "int", "long", "float", "double", "bytes", "string",
		"record", "enum", "array", "map", "fixed":
		return name
	}
	return ns + name
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
