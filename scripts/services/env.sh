#!/usr/bin/env bash
# Prints the environment the integration suite reads, as export lines:
#
#   eval "$(scripts/services/env.sh)"
set -euo pipefail

SVC="env"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat <<EOT
export ORDERFLOW_TEST_BROKERS=$SERVICES_HOST:$KAFKA_PORT
export ORDERFLOW_TEST_REGISTRY=http://$SERVICES_HOST:$REGISTRY_PORT/apis/ccompat/v7
export ORDERFLOW_TEST_REDIS=redis://$SERVICES_HOST:$REDIS_PORT/0
EOT
