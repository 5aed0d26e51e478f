#!/usr/bin/env bash
# A throwaway certificate authority and one server certificate for 127.0.0.1/localhost, shared by
# the secured listeners of Kafka, the schema registry and Redis. Generated once per state
# directory with openssl; never commit them, never use them outside tests.
#
#   certs.sh ensure   create what is missing, print the directory
#   certs.sh dir      print the directory
#
# Files in $ORDERFLOW_STATE/certs:
#   ca.pem, ca.key            the CA (clients trust ca.pem)
#   server.pem, server.key    the server certificate (SAN IP:127.0.0.1, DNS:localhost), PEM, key unencrypted
#   server-chain.pem          server.key + server.pem + ca.pem in one file (Kafka's PEM keystore, nginx)
#   client.pem, client.key    a client certificate signed by the CA (for mutual TLS)
set -euo pipefail

SVC=certs
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CERT_DIR="$ORDERFLOW_STATE/certs"
DAYS=30

generate() {
  [[ -s $CERT_DIR/server-chain.pem && -s $CERT_DIR/client.pem ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$CERT_DIR"
  local tmp
  tmp=$(mktemp -d "$CERT_DIR/.gen.XXXXXX")
  (
    cd "$tmp"
    openssl req -x509 -newkey rsa:2048 -nodes -days "$DAYS" -subj "/CN=orderflow test CA" \
      -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    cat >server.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EOF
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$DAYS" \
      -extfile server.ext -out server.pem 2>/dev/null
    cat >client.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
    openssl req -newkey rsa:2048 -nodes -subj "/CN=orderflow-client" -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days "$DAYS" \
      -extfile client.ext -out client.pem 2>/dev/null
    # PKCS#8 keys: Java's PEM keystore (Kafka ssl.keystore.type=PEM) reads only PKCS#8.
    openssl pkcs8 -topk8 -nocrypt -in server.key -out server.pk8
    mv server.pk8 server.key
    cat server.key server.pem ca.pem >server-chain.pem
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 600 ./*.key server-chain.pem
  )
  mv "$tmp"/* "$CERT_DIR"/
  rmdir "$tmp"
  log "generated a test CA and server certificate in $CERT_DIR"
}

# ensure: generate under a lock. Kafka, the registry and Redis start in parallel and each ensures
# the certificates; without the lock each generated its own CA and the services trusted
# different ones (Redis answered "unknown ca" to the scripts' own health check).
ensure() { with_lock certs generate; }

case "${1:-}" in
ensure) ensure && printf '%s\n' "$CERT_DIR" ;;
dir) printf '%s\n' "$CERT_DIR" ;;
*) die "usage: $0 ensure|dir" ;;
esac
