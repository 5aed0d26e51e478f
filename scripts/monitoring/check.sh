#!/usr/bin/env bash
# make check-monitoring: checks deploy/prometheus and deploy/grafana with the real tools.
#   1. promtool check rules, promtool test rules (alerts_test.yml), promtool check config;
#   2. orderflow's embedded demo (`orderflow run`, in-process Kafka, Redis, registry, sandbox)
#      serving /metrics, and a real Prometheus scraping it every 2s with alerts.yml loaded;
#   3. scripts/monitoring/check.py: every dashboard and rule expression through /api/v1/query.
# Installs Debian's prometheus package when promtool or prometheus is missing, and never leaves
# the package's own service running: this script runs its own prometheus with its own config
# and data dir. It stops everything it started.
# Ports: MONITORING_PROM_PORT and MONITORING_METRICS_ADDR when set; by default both are chosen
# free at run time (orderflow binds 127.0.0.1:0 and prints its address), never a fixed port: a
# fixed port in the ephemeral range can be held by any client socket on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
prom_port="${MONITORING_PROM_PORT:-}"
metrics_addr="${MONITORING_METRICS_ADDR:-127.0.0.1:0}"
# free_port prints a TCP port on 127.0.0.1 that nothing listens on at this moment.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
say() { printf '== %s\n' "$*"; }

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
	say "installing Debian's prometheus package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus >/dev/null ||
		{ apt-get update -o DPkg::Lock::Timeout=300 >/dev/null && apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 prometheus >/dev/null; }
	# The package starts its service where an init system lets it (port 9090): stop it.
	if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
		systemctl disable --now prometheus
	elif [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
		/etc/init.d/prometheus stop
	fi
fi
prometheus --version 2>&1 | head -1

say "promtool check rules"
out="$(promtool check rules deploy/prometheus/alerts.yml)"
echo "$out"
rules="$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' <<<"$out")"
say "promtool test rules"
promtool test rules deploy/prometheus/alerts_test.yml
say "promtool check config"
promtool check config deploy/prometheus/prometheus.yml

work="$(mktemp -d /tmp/orderflow-monitoring.XXXXXX)"
pids=()
cleanup() {
	rc=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ]; then
		for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- tail of $f"; tail -n 30 "$f"; }; done
	fi
	rm -rf "$work"
	say "$([ "$rc" -eq 0 ] && echo ok || echo FAILED) in $(( $(date +%s) - start ))s (everything started is stopped)"
	exit "$rc"
}
trap cleanup EXIT

say "building orderflow"
go build -o "$work/orderflow" ./cmd/orderflow

say "orderflow run --metrics-addr $metrics_addr (embedded demo, until stopped)"
# Rye's shared strict-tier limit below the demo's pace, so orderflow_ratelimit_* move too.
"$work/orderflow" run --metrics-addr "$metrics_addr" --rate 10 --rye-strict-rps 4 >"$work/orderflow.log" 2>&1 &
pids+=($!)
# The address it bound: run prints "orderflow: metrics at http://ADDR/metrics" once listening.
for _ in $(seq 120); do
	bound="$(sed -n 's|^orderflow: metrics at http://\([^/]*\)/metrics.*|\1|p' "$work/orderflow.log" | head -1)"
	[ -n "$bound" ] && break
	kill -0 "${pids[0]}" 2>/dev/null || { echo "orderflow exited"; exit 1; }
	sleep 0.5 # poll interval
done
[ -n "$bound" ] || { echo "orderflow did not start serving metrics"; exit 1; }
metrics_addr="$bound"
say "orderflow serves metrics at $metrics_addr"

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $PWD/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: orderflow
    static_configs:
      - targets: ["$metrics_addr"]
YAML
# A port chosen free can be taken before prometheus binds it: three tries, each on a new port.
ready=""
for attempt in 1 2 3; do
	port="${prom_port:-$(free_port)}"
	say "prometheus on 127.0.0.1:$port scraping it every 2s"
	prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
		--web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
	pid=$!
	for _ in $(seq 60); do
		curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && { ready=1; break; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 1 # poll interval
	done
	if [ -n "$ready" ]; then pids+=("$pid"); prom_port="$port"; break; fi
	kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
	echo "prometheus did not start (try $attempt):"; tail -n 5 "$work/prometheus.log"
	if [ -n "${MONITORING_PROM_PORT:-}" ]; then break; fi
done
[ -n "$ready" ] || { echo "prometheus did not start"; exit 1; }

say "evaluating the dashboard and the rules"
python3 scripts/monitoring/check.py --prometheus "http://127.0.0.1:$prom_port" \
	--dashboard deploy/grafana/orderflow.json --rules "$rules" --rate-interval 30s
