#!/usr/bin/env bash
# Prints the environment the integration suite reads, as export lines:
#
#   eval "$(scripts/services/env.sh)"
#
# Kafka is reached over its SASL_SSL listener (SCRAM-SHA-512, the test CA of certs.sh), as a
# managed Kafka would be (internal/testenv reads these variables). ORDERFLOW_TEST_CA_FILE is the
# one CA of every secured service.
set -euo pipefail

SVC="env"
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CA_FILE="$("$(dirname "${BASH_SOURCE[0]}")/certs.sh" ensure)/ca.pem"

cat <<EOT
export ORDERFLOW_TEST_BROKERS=$SERVICES_HOST:$KAFKA_SASL_PORT
export ORDERFLOW_TEST_KAFKA_TLS=true
export ORDERFLOW_TEST_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
export ORDERFLOW_TEST_KAFKA_SASL_USER=$KAFKA_SASL_USER
export ORDERFLOW_TEST_KAFKA_SASL_PASSWORD=$(kafka_sasl_password)
export ORDERFLOW_TEST_CA_FILE=$CA_FILE
export ORDERFLOW_TEST_REGISTRY=http://$SERVICES_HOST:$REGISTRY_PORT/apis/ccompat/v7
export ORDERFLOW_TEST_REDIS=redis://$SERVICES_HOST:$REDIS_PORT/0
EOT
