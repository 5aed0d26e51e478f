package providers_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/provider/providers"
)

const module = "github.com/orderflow/orderflow"

// The packages that must iterate over descriptors instead of naming a provider, relative to the
// module root. cmd/orderflow's exceptions are the operator's flags (providers.go binds
// --rye-url, --dr-url, ... to descriptor names) and the sandbox command, which configures the
// simulators themselves.
var generic = map[string][]string{
	"cmd/orderflow": {"providers.go", "sandbox.go"},
	"service":       nil,
	"embedded":      nil,
	"ratelimit":     nil,
	"dlq":           nil,
}

// allowed are the provider packages a generic package may import: the registry, and the
// metrics decorator (which wraps any provider).
var allowed = []string{module + "/provider/providers", module + "/provider/providermetrics"}

// No string literal in those packages names a registered provider, and none imports an
// adapter or a simulator: they know providers only through provider.Descriptor.
func TestNoProviderNamedOutsideItsAdapter(t *testing.T) {
	var names []string
	for _, d := range providers.All() {
		names = append(names, regexp.QuoteMeta(d.Name))
	}
	named := regexp.MustCompile(`(?i)\b(` + strings.Join(names, "|") + `|digital river)\b`)
	for dir, except := range generic {
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, path := range files {
			base := filepath.Base(path)
			if strings.HasSuffix(base, "_test.go") || slices.Contains(except, base) {
				continue
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, module+"/provider/") && !slices.Contains(allowed, p) ||
					strings.HasPrefix(p, module+"/sandbox/") {
					t.Errorf("%s/%s imports %s", dir, base, p)
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if field, ok := n.(*ast.Field); ok && field.Tag != nil {
					return false // struct tags are flags and help texts
				}
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if s, _ := strconv.Unquote(lit.Value); named.MatchString(s) {
					t.Errorf("%s: string literal %s names a provider", fset.Position(lit.Pos()), lit.Value)
				}
				return true
			})
		}
	}
}

// dlq depends on no concrete provider, not even through the registry: cmd hands it the
// descriptors (what `go list -deps ./dlq | grep provider/` shows). Package provider itself
// imports sandbox/ledger, the record type simulators share (provider.SandboxConfig), and
// nothing else of the sandbox.
func TestDLQImportsNoProvider(t *testing.T) {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(path string) {
		if seen[path] || !strings.HasPrefix(path, module) {
			return
		}
		seen[path] = true
		pkg, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("importing %s: %v", path, err)
		}
		for _, p := range pkg.Imports {
			walk(p)
		}
	}
	walk(module + "/dlq")
	for p := range seen {
		if strings.HasPrefix(p, module+"/provider/") || strings.HasPrefix(p, module+"/sandbox") && p != module+"/sandbox/ledger" {
			t.Errorf("dlq depends on %s", p)
		}
	}
	if !seen[module+"/provider"] {
		t.Fatal("the walk never reached package provider: it checked nothing")
	}
}
