#!/usr/bin/env bash
# Stops Kafka, the schema registry and Redis started by up.sh.
#
#   down.sh           stop; Kafka's and Redis's data stay for the next up.sh
#   down.sh --clean   stop and delete all runtime state ($ORDERFLOW_STATE); downloads stay cached
set -euo pipefail

SVC=down
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

clean=0
case "${1:-}" in
"") ;;
--clean) clean=1 ;;
*)
  echo "usage: $0 [--clean]" >&2
  exit 2
  ;;
esac

declare -A pids=()
for s in registry kafka redis; do
  "$HERE/$s.sh" stop &
  pids[$s]=$!
done
failed=()
for s in registry kafka redis; do
  wait "${pids[$s]}" || failed+=("$s")
done
((${#failed[@]} == 0)) || die "failed to stop: ${failed[*]}"

if ((clean)); then
  case "$ORDERFLOW_STATE" in
  "" | / | "$HOME" | "$HOME"/) die "refusing to delete ORDERFLOW_STATE=$ORDERFLOW_STATE" ;;
  esac
  log "deleting $ORDERFLOW_STATE"
  rm -rf "$ORDERFLOW_STATE"
fi
log "all services stopped"
