package deploy_test

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v4"

	"github.com/orderflow/orderflow/consumer"
)

var roles = []string{"worker", "tracker", "reconciler"}

// loadCompose loads file with the compose-spec loader docker compose uses: it validates the
// file against the compose-spec JSON schema, resolves anchors, merge keys and ${VAR:-default}
// interpolation from env, and checks references (depends_on, volumes).
func loadCompose(t *testing.T, file string, env ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithWorkingDirectory(root), cli.WithName("orderflow"), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func project(t *testing.T, env ...string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, filepath.Join(root, "docker-compose.yml"), env...)
	if err != nil {
		t.Fatalf("loading docker-compose.yml: %v", err)
	}
	return p
}

// drainBound is the longest a role takes to stop after SIGTERM (consumer.Close): up to
// RevokeTimeout waiting for started records, the commit within 2 x RevokeTimeout of the start,
// then up to RevokeTimeout more for handlers ignoring their cancellation.
func drainBound(t *testing.T) time.Duration {
	cfg := consumer.Config{Brokers: []string{"kafka:9092"}, Group: "g", Topics: []string{"t"},
		DeadLetter: func(context.Context, *kgo.Record, error) error { return nil }}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return 3 * cfg.RevokeTimeout
}

// TestComposeRoles checks what the roles need to run under compose: metrics on, a health check
// on /readyz of that metrics server, a stop grace period longer than the drain, a restart
// policy, and healthy dependencies before they start.
func TestComposeRoles(t *testing.T) {
	p := project(t, "ORDERFLOW_VERSION=v1.2.3", "ORDERFLOW_REVISION=abc123")
	drain := drainBound(t)
	for _, role := range roles {
		t.Run(role, func(t *testing.T) {
			s, err := p.GetService(role)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"run", "--roles", role}; !slices.Equal(s.Command, want) {
				t.Errorf("command %v, want %v", s.Command, want)
			}
			if s.Image != "orderflow:v1.2.3" || s.Build == nil || *s.Build.Args["VERSION"] != "v1.2.3" || *s.Build.Args["REVISION"] != "abc123" {
				t.Errorf("image %q, build %+v: want orderflow:$ORDERFLOW_VERSION built with VERSION and REVISION", s.Image, s.Build)
			}

			addr := s.Environment["ORDERFLOW_METRICS_ADDR"]
			if addr == nil {
				t.Fatal("ORDERFLOW_METRICS_ADDR is not set: no metrics and no /readyz")
			}
			_, port, err := net.SplitHostPort(*addr)
			if err != nil {
				t.Fatalf("ORDERFLOW_METRICS_ADDR %q: %v", *addr, err)
			}

			hc := s.HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) != 4 || !slices.Equal(hc.Test[:3], []string{"CMD", "/orderflow", "probe"}) {
				t.Fatalf("healthcheck %+v, want [CMD /orderflow probe http://127.0.0.1:%s/readyz]", hc, port)
			}
			u, err := url.Parse(hc.Test[3])
			if err != nil || u.Path != "/readyz" || u.Port() != port || !net.ParseIP(u.Hostname()).IsLoopback() {
				t.Errorf("healthcheck probes %q, want /readyz on the loopback at the metrics port %s", hc.Test[3], port)
			}
			if hc.StartPeriod == nil || time.Duration(*hc.StartPeriod) < 2*time.Minute {
				t.Errorf("healthcheck start_period %v, want at least --start-timeout's default 2m", hc.StartPeriod)
			}

			if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= drain {
				t.Errorf("stop_grace_period %v, want more than the drain bound %v", s.StopGracePeriod, drain)
			}
			if !slices.Contains([]string{"unless-stopped", "always", "on-failure"}, s.Restart) {
				t.Errorf("restart %q, want a restart policy", s.Restart)
			}
			for _, dep := range []string{"kafka", "redis", "registry", "sandbox"} {
				d, ok := s.DependsOn[dep]
				if !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("depends_on %s: %+v, want condition service_healthy", dep, d)
					continue
				}
				if ds, err := p.GetService(dep); err != nil || ds.HealthCheck == nil || ds.HealthCheck.Disable {
					t.Errorf("%s has no health check to wait for", dep)
				}
			}
		})
	}
}

// TestComposeMonitoring: Prometheus gets its config and alert rules and scrapes every role at
// its metrics port; Grafana gets the Prometheus datasource and the dashboard, provisioned.
func TestComposeMonitoring(t *testing.T) {
	p := project(t)
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	mounts := func(s types.ServiceConfig) map[string]string { // target -> source, relative to the repository
		m := map[string]string{}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				rel, err := filepath.Rel(abs, v.Source)
				if err != nil {
					t.Fatal(err)
				}
				m[v.Target] = filepath.ToSlash(rel)
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s, which does not exist", s.Name, rel)
				}
			}
		}
		return m
	}

	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(prom.Image, "prom/prometheus:v") {
		t.Errorf("prometheus image %q, want a pinned prom/prometheus", prom.Image)
	}
	pm := mounts(prom)
	for target, source := range map[string]string{
		"/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
		"/etc/prometheus/alerts.yml":     "deploy/prometheus/alerts.yml",
	} {
		if pm[target] != source {
			t.Errorf("prometheus mounts %q at %s, want %s", pm[target], target, source)
		}
	}
	t.Run("scrape config", func(t *testing.T) { checkScrapes(t, p, filepath.Join(root, "deploy/prometheus/prometheus.yml")) })

	graf, err := p.GetService("grafana")
	if err != nil {
		t.Fatal(err)
	}
	gm := mounts(graf)
	if gm["/etc/grafana/provisioning"] != "deploy/grafana/provisioning" {
		t.Errorf("grafana mounts %q at /etc/grafana/provisioning, want deploy/grafana/provisioning", gm["/etc/grafana/provisioning"])
	}
	var dashTarget string
	for target, source := range gm {
		if source == "deploy/grafana/orderflow.json" {
			dashTarget = target
		}
	}
	if dashTarget == "" {
		t.Fatal("grafana does not mount deploy/grafana/orderflow.json")
	}

	var ds struct {
		Datasources []struct{ Name, UID, Type, URL string } `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(root, "deploy/grafana/provisioning/datasources/prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources %+v, want one of type prometheus", ds.Datasources)
	}
	promURL, err := url.Parse(ds.Datasources[0].URL)
	if err != nil || promURL.Hostname() != "prometheus" || !exposes(prom, promURL.Port()) {
		t.Errorf("datasource url %q, want the prometheus service at a port it serves", ds.Datasources[0].URL)
	}

	var dp struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(root, "deploy/grafana/provisioning/dashboards/orderflow.yml"), &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path != path.Dir(dashTarget) {
		t.Errorf("dashboard providers %+v, want one file provider reading %s", dp.Providers, path.Dir(dashTarget))
	}
	t.Run("dashboard datasource", func(t *testing.T) {
		checkDashboard(t, filepath.Join(root, "deploy/grafana/orderflow.json"), ds.Datasources[0].UID)
	})
}

// exposes says whether the service publishes port.
func exposes(s types.ServiceConfig, port string) bool {
	for _, p := range s.Ports {
		if p.Target > 0 && port == strconv.FormatUint(uint64(p.Target), 10) {
			return true
		}
	}
	return false
}

// checkScrapes: every role is a scrape target at the port its metrics server listens on,
// through static targets or DNS discovery (which finds every replica of a scaled service).
func checkScrapes(t *testing.T, p *types.Project, file string) {
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, file, &cfg)
	targets := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				targets[net.JoinHostPort(n, strconv.Itoa(d.Port))] = true
			}
		}
	}
	for _, role := range roles {
		s, err := p.GetService(role)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(*s.Environment["ORDERFLOW_METRICS_ADDR"])
		if want := net.JoinHostPort(role, port); !targets[want] {
			t.Errorf("%s does not scrape %s (targets %v)", file, want, targets)
		}
	}
	if !slices.ContainsFunc(cfg.RuleFiles, func(f string) bool { return path.Base(f) == "alerts.yml" }) {
		t.Errorf("%s: rule_files %v does not load alerts.yml", file, cfg.RuleFiles)
	}
}

// checkDashboard: a provisioned dashboard is loaded as is, so it must name the provisioned
// datasource (its uid, or a datasource variable) and carry no __inputs, which only the UI's
// import resolves.
func checkDashboard(t *testing.T, file, uid string) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if _, ok := dash["__inputs"]; ok {
		t.Errorf("%s has __inputs: export it without 'for sharing externally'", file)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if d, ok := v["datasource"].(map[string]any); ok {
				if u, _ := d["uid"].(string); u != uid && !strings.HasPrefix(u, "$") && u != "-- Grafana --" && u != "grafana" {
					t.Errorf("%s: datasource uid %q, want %q (provisioned) or a variable", file, u, uid)
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(dash)
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// TestComposeSchemaRefusesMistakes shows the loader is a check: a misspelt key, a duration that
// is none, and a dependency on a service that does not exist are each refused.
func TestComposeSchemaRefusesMistakes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"unknown key":     {"    stop_grace_period: 45s", "    stop_grace_periods: 45s"},
		"bad duration":    {"    stop_grace_period: 45s", "    stop_grace_period: soon"},
		"unknown service": {"      sandbox: {condition: service_healthy}", "      sandbx: {condition: service_healthy}"},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(raw), edit[0]) {
				t.Fatalf("docker-compose.yml has no %q to break", edit[0])
			}
			file := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(file, []byte(strings.Replace(string(raw), edit[0], edit[1], 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := loadCompose(t, file); err == nil {
				t.Fatalf("the loader accepted %q", edit[1])
			}
		})
	}
}
