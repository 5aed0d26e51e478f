#!/usr/bin/env bash
# Creates or updates the Python venv for the interop checks, at $ORDERFLOW_CACHE/venv, and prints
# the path of its python on stdout (everything else goes to stderr):
#
#   PY=$(scripts/services/pyenv.sh) && "$PY" -c 'import confluent_kafka'
#
# Idempotent: pip runs only when the requirement list below (or the base python) changed.
set -euo pipefail

SVC=pyenv
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VENV="$ORDERFLOW_CACHE/venv"
PYTHON="${PYTHON:-python3}"

# confluent-kafka[avro] pulls fastavro, avro, requests, httpx2, authlib, cachetools, certifi, ...: everything
# confluent_kafka.schema_registry's Avro serde imports. Pinned so CI and developers get the same set.
# (confluent-kafka 2.16.1[avro] asks for certifi>=2026.10.19, which PyPI does not have yet: stay on 2.16.0.)
REQUIREMENTS=(
  "confluent-kafka[avro]==2.16.0"
  "fastavro==1.13.1"
  "attrs==26.1.0"
)

command -v "$PYTHON" >/dev/null || apt_install python3 python3-venv
base_version=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
stamp_want="python=$base_version ${REQUIREMENTS[*]}"
stamp="$VENV/.orderflow-requirements"

if [[ -x $VENV/bin/python && -f $stamp && $(<"$stamp") == "$stamp_want" ]]; then
  log "venv up to date ($VENV)"
else
  mkdir -p "$ORDERFLOW_CACHE"
  if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating venv $VENV with $PYTHON $base_version"
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV" >&2; then
      # Debian's python3 lacks ensurepip without python3-venv.
      apt_install python3-venv
      "$PYTHON" -m venv "$VENV" >&2
    fi
  fi
  log "installing ${REQUIREMENTS[*]}"
  piplog="$ORDERFLOW_CACHE/pip.log"
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${REQUIREMENTS[@]}" >"$piplog" 2>&1; then
    show_tail "$piplog" 40
    die "pip install failed (log: $piplog)"
  fi
  "$VENV/bin/python" -c 'import confluent_kafka, confluent_kafka.schema_registry.avro, fastavro, attrs' ||
    die "venv installed but the imports fail"
  printf '%s\n' "$stamp_want" >"$stamp"
  log "venv ready: confluent-kafka $("$VENV/bin/python" -c 'import confluent_kafka; print(confluent_kafka.version(), "librdkafka", confluent_kafka.libversion()[0])')"
fi
printf '%s\n' "$VENV/bin/python"
