package deploy_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// root is the repository root, where the Dockerfile and docker-compose.yml are.
const root = ".."

// instruction is one Dockerfile instruction as BuildKit parses it.
type instruction struct {
	cmd   string   // upper case: FROM, RUN, ...
	args  []string // the parser's words (JSON form: the array's elements)
	flags []string // --from=build, --interval=10s, ...
	json  bool     // exec (JSON array) form
	line  int
}

// stage is one FROM and the instructions after it.
type stage struct {
	from         instruction
	instructions []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// stages parses the repository's Dockerfile with BuildKit's parser, the one `docker build` uses.
func stages(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("parsing the Dockerfile: %v", err)
	}
	var out []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToUpper(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		switch {
		case in.cmd == "FROM":
			out = append(out, stage{from: in})
		case len(out) > 0:
			out[len(out)-1].instructions = append(out[len(out)-1].instructions, in)
		}
	}
	if len(out) < 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and a runtime stage", len(out))
	}
	return out
}

// keyValues reads LABEL or ENV arguments (key, value, "=" triples in BuildKit's AST).
func keyValues(t *testing.T, ins []instruction) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, in := range ins {
		for i := 0; i+1 < len(in.args); i += 3 {
			v := in.args[i+1]
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			m[in.args[i]] = v
		}
	}
	return m
}

// declaresArg says whether the stage declares ARG name before line.
func declaresArg(s stage, name string, line int) bool {
	for _, in := range s.all("ARG") {
		if in.line < line && len(in.args) > 0 && strings.SplitN(in.args[0], "=", 2)[0] == name {
			return true
		}
	}
	return false
}

// TestDockerfileBuildStage: a static, reproducible build stamped with the VERSION build arg.
func TestDockerfileBuildStage(t *testing.T) {
	ss := stages(t)
	var build *instruction
	var in stage
	for _, s := range ss[:len(ss)-1] {
		for _, r := range s.all("RUN") {
			if strings.Contains(strings.Join(r.args, " "), "go build") {
				build, in = &r, s
			}
		}
	}
	if build == nil {
		t.Fatal("no build stage RUNs go build")
	}
	cmd := strings.Join(build.args, " ")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/orderflow"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("line %d: go build %q lacks %q", build.line, cmd, want)
		}
	}
	if !declaresArg(in, "VERSION", build.line) {
		t.Errorf("the build stage uses ${VERSION} but declares no ARG VERSION before line %d", build.line)
	}
	// The Makefile stamps the same variable, so `make build` and the image agree.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mk), "-X main.version=") {
		t.Error("the Makefile's build does not stamp main.version")
	}
}

// TestDockerfileRuntimeStage: the final stage runs as a numeric non-root user, carries the OCI
// labels from its own build args, exposes the metrics port the image's environment serves on, and
// its health check, entrypoint and command need no shell.
func TestDockerfileRuntimeStage(t *testing.T) {
	ss := stages(t)
	final := ss[len(ss)-1]
	if img := final.from.args[0]; !strings.Contains(img, ":") || strings.HasSuffix(img, ":latest") {
		t.Errorf("FROM %s: pin a tag", img)
	}

	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("the final stage sets no USER: the image runs as whatever the base says")
	}
	user := strings.SplitN(users[len(users)-1].args[0], ":", 2)[0]
	if uid, err := strconv.Atoi(user); err != nil || uid == 0 {
		t.Errorf("USER %s: want a numeric, non-root uid (a runtime checking runAsNonRoot can not resolve names)", user)
	}

	labels := keyValues(t, final.all("LABEL"))
	for key, want := range map[string]string{
		"org.opencontainers.image.version":  "${VERSION}",
		"org.opencontainers.image.revision": "${REVISION}",
		"org.opencontainers.image.source":   "https://github.com/orderflow/orderflow",
	} {
		if labels[key] != want {
			t.Errorf("LABEL %s = %q, want %q", key, labels[key], want)
		}
	}
	for _, arg := range []string{"VERSION", "REVISION"} {
		if !declaresArg(final, arg, final.all("LABEL")[0].line) {
			t.Errorf("the final stage's labels use ${%s} without an ARG %s in that stage (ARGs are per stage)", arg, arg)
		}
	}

	addr := keyValues(t, final.all("ENV"))["ORDERFLOW_METRICS_ADDR"]
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("ENV ORDERFLOW_METRICS_ADDR=%q: %v", addr, err)
	}
	var exposed []string
	for _, e := range final.all("EXPOSE") {
		exposed = append(exposed, e.args...)
	}
	if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
		t.Errorf("EXPOSE %v does not include the metrics port %s", exposed, port)
	}

	for _, cmd := range []string{"ENTRYPOINT", "CMD", "HEALTHCHECK"} {
		for _, in := range final.all(cmd) {
			if !in.json {
				t.Errorf("line %d: %s in shell form; the image has no shell", in.line, cmd)
			}
		}
	}
	hc := final.all("HEALTHCHECK")
	if len(hc) != 1 || !slices.Equal(hc[0].args, []string{"CMD", "/orderflow", "probe"}) {
		t.Errorf("HEALTHCHECK %v, want one exec-form CMD /orderflow probe", hc)
	}
	if ep := final.all("ENTRYPOINT"); len(ep) != 1 || !slices.Equal(ep[0].args, []string{"/orderflow"}) {
		t.Errorf("ENTRYPOINT %v, want [/orderflow]", ep)
	}
}

// TestDockerignore: the build context has every file `go build ./cmd/orderflow` reads (Go and
// embedded files of this module) and none of the repository's large or private parts.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ignored := func(p string) bool {
		t.Helper()
		m, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, p := range []string{".git/HEAD", "bin/orderflow", ".cache/orderflow/venv/bin/python", "orderflow", "consumer/consumer.test", "logs/kafka.log", "state/redis/dump.rdb"} {
		if !ignored(p) {
			t.Errorf("%s is sent to the builder", p)
		}
	}

	needed := []string{"go.mod", "go.sum"}
	list := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		"./cmd/orderflow")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 50 {
		t.Fatalf("go list found only %d files of the build", len(needed))
	}
	for _, p := range needed {
		if ignored(p) {
			t.Errorf("%s is needed by the build but .dockerignore leaves it out", p)
		}
	}
}
