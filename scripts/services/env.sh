#!/usr/bin/env bash
# Prints the environment the integration suite reads, as export lines:
#
#   eval "$(scripts/services/env.sh)"
#
# The suites reach every service the way a managed deployment would be reached: Kafka over its
# SASL_SSL listener (SCRAM-SHA-512), the registry over TLS with basic auth (a read-write and a
# read-only user), Redis over TLS as the ACL user orderflow. ORDERFLOW_TEST_CA_FILE is the one CA
# (certs.sh) that signed every service's certificate; the passwords are the state directory's
# generated test passwords (lib.sh test_password). internal/testenv reads these variables.
set -euo pipefail

SVC="env"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

CA_FILE="$("$(dirname "${BASH_SOURCE[0]}")/certs.sh" ensure)/ca.pem"

cat <<EOT
export ORDERFLOW_TEST_BROKERS=$SERVICES_HOST:$KAFKA_SASL_PORT
export ORDERFLOW_TEST_KAFKA_TLS=true
export ORDERFLOW_TEST_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
export ORDERFLOW_TEST_KAFKA_SASL_USER=$KAFKA_SASL_USER
export ORDERFLOW_TEST_KAFKA_SASL_PASSWORD=$(kafka_sasl_password)
export ORDERFLOW_TEST_CA_FILE=$CA_FILE
export ORDERFLOW_TEST_REGISTRY=https://$SERVICES_HOST:$REGISTRY_TLS_PORT/apis/ccompat/v7
export ORDERFLOW_TEST_REGISTRY_USER=orderflow
export ORDERFLOW_TEST_REGISTRY_PASSWORD=$(test_password registry-orderflow)
export ORDERFLOW_TEST_REGISTRY_RO_USER=orderflow-ro
export ORDERFLOW_TEST_REGISTRY_RO_PASSWORD=$(test_password registry-orderflow-ro)
export ORDERFLOW_TEST_REDIS=rediss://orderflow:$(test_password redis-orderflow)@$SERVICES_HOST:$REDIS_TLS_PORT/0
EOT
