# shellcheck shell=bash
# shellcheck disable=SC2034 # the port constants are used by the scripts that source this file
# Shared helpers for the scripts in scripts/services/. Source it; do not run it.
#
# Conventions:
#   ORDERFLOW_CACHE  downloads and unpacked distributions (default ~/.cache/orderflow);
#                    Maven jars live in Maven's own local repository (~/.m2).
#   ORDERFLOW_STATE  runtime state: data dirs, logs, pid files (default /tmp/orderflow-services).
#
# Every service listens on 127.0.0.1 only.

ORDERFLOW_CACHE="${ORDERFLOW_CACHE:-${HOME}/.cache/orderflow}"
ORDERFLOW_STATE="${ORDERFLOW_STATE:-/tmp/orderflow-services}"
export ORDERFLOW_CACHE ORDERFLOW_STATE

SERVICES_HOST=127.0.0.1
# The defaults are the ports CI and the README use; a second set of services on one machine (a
# developer's parallel checkout) sets other ports and its own ORDERFLOW_STATE.
KAFKA_PORT="${ORDERFLOW_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${ORDERFLOW_KAFKA_CONTROLLER_PORT:-9093}"
# SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 over TLS): what the integration suite connects to.
KAFKA_SASL_PORT="${ORDERFLOW_KAFKA_SASL_PORT:-9094}"
REGISTRY_PORT="${ORDERFLOW_REGISTRY_PORT:-8081}"
REGISTRY_MANAGEMENT_PORT="${ORDERFLOW_REGISTRY_MANAGEMENT_PORT:-8091}"
REGISTRY_TLS_PORT="${ORDERFLOW_REGISTRY_TLS_PORT:-8443}"
REDIS_PORT="${ORDERFLOW_REDIS_PORT:-6379}"
REDIS_TLS_PORT="${ORDERFLOW_REDIS_TLS_PORT:-6380}"

# test_password NAME: print the password of the test account NAME, generated (hex, so it is safe in a
# URL) the first time and kept in $ORDERFLOW_STATE/secrets/NAME (mode 600). The services read it
# from their config files, env.sh prints it for the suites; it never appears on a command line.
test_password() {
  local file="$ORDERFLOW_STATE/secrets/$1"
  if [[ ! -s $file ]]; then
    mkdir -p "$ORDERFLOW_STATE/secrets"
    chmod 700 "$ORDERFLOW_STATE/secrets"
    (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$file.tmp" && mv "$file.tmp" "$file")
  fi
  cat "$file"
}

# The test user of Kafka's SASL_SSL listener, for every mechanism. Its password is generated once
# per state directory (kafka_sasl_password), so it is no constant anyone could reuse elsewhere.
KAFKA_SASL_USER=orderflow

# kafka_sasl_password: print the test user's password (a test_password). It lives beside (not
# inside) Kafka's data dir, which holds its SCRAM credentials: `kafka.sh clean` keeps it, and kafka.sh
# re-registers SCRAM credentials whenever they differ from it.
kafka_sasl_password() { test_password kafka-orderflow; }

# Name used as the prefix of every message; each script sets it.
SVC="${SVC:-services}"

log() { printf '[%s] %s\n' "$SVC" "$*" >&2; }

die() {
  printf '[%s] ERROR: %s\n' "$SVC" "$*" >&2
  exit 1
}

# show_tail FILE [LINES]: print the end of a log file to stderr, framed.
show_tail() {
  local file=$1 lines=${2:-60}
  if [[ -s $file ]]; then
    printf '[%s] ---- last %s lines of %s ----\n' "$SVC" "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf '[%s] ---- end of %s ----\n' "$SVC" "$file" >&2
  else
    printf '[%s] (log %s is empty or missing)\n' "$SVC" "$file" >&2
  fi
}

# file_size FILE: size in bytes, 0 if missing (to show only what a start appended to a log).
file_size() {
  if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi
}

# show_new FILE OFFSET [LINES]: print the end of what was appended to FILE after byte OFFSET.
show_new() {
  local file=$1 offset=$2 lines=${3:-60}
  if [[ ! -f $file ]] || (($(file_size "$file") <= offset)); then
    printf '[%s] (nothing new in %s)\n' "$SVC" "$file" >&2
    return 0
  fi
  printf '[%s] ---- last %s lines written to %s by this start ----\n' "$SVC" "$lines" "$file" >&2
  tail -c +"$((offset + 1))" "$file" | tail -n "$lines" >&2
  printf '[%s] ---- end of %s ----\n' "$SVC" "$file" >&2
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  local port=$1
  (exec 3<>"/dev/tcp/${SERVICES_HOST}/${port}") 2>/dev/null
}

# wait_port_free PORT TIMEOUT_SECONDS
wait_port_free() {
  local port=$1 timeout=$2 waited=0
  while port_open "$port"; do
    ((waited >= timeout * 10)) && return 1
    sleep 0.1
    waited=$((waited + 1))
  done
}

# alive PID: true if the process exists and is not a zombie (an exited child nobody reaped yet,
# e.g. when PID 1 of a container does not reap orphans: kill -0 still succeeds on those).
alive() {
  local pid=$1 stat
  kill -0 "$pid" 2>/dev/null || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# read_pid PIDFILE: print the pid if the file exists and that process is alive.
read_pid() {
  local pidfile=$1 pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  printf '%s\n' "$pid"
}

# pid_gone PID TIMEOUT_SECONDS: wait until the process has exited.
pid_gone() {
  local pid=$1 timeout=$2 waited=0
  while alive "$pid"; do
    ((waited >= timeout * 10)) && return 1
    sleep 0.1
    waited=$((waited + 1))
  done
}

# stop_pidfile PIDFILE TIMEOUT_SECONDS: SIGTERM, then SIGKILL after the timeout.
stop_pidfile() {
  local pidfile=$1 timeout=$2 pid
  if ! pid=$(read_pid "$pidfile"); then
    rm -f "$pidfile"
    log "not running"
    return 0
  fi
  log "stopping pid $pid (SIGTERM, SIGKILL after ${timeout}s)"
  kill -TERM "$pid" 2>/dev/null || true
  if ! pid_gone "$pid" "$timeout"; then
    log "pid $pid still alive after ${timeout}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    pid_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  fi
  rm -f "$pidfile"
  log "stopped"
}

# kill9_pidfile PIDFILE: kill -9 without any grace (crash tests).
kill9_pidfile() {
  local pidfile=$1 pid
  if ! pid=$(read_pid "$pidfile"); then
    rm -f "$pidfile"
    log "not running"
    return 0
  fi
  log "kill -9 pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
  pid_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  rm -f "$pidfile"
}

# elapsed_since START_EPOCH_NANOS: seconds with one decimal.
now_ns() { date +%s%N; }
elapsed_since() {
  local start=$1 now
  now=$(now_ns)
  printf '%d.%01d' $(((now - start) / 1000000000)) $((((now - start) / 100000000) % 10))
}

# with_lock NAME CMD...: serialise concurrent start/stop of one service.
with_lock() {
  local name=$1
  shift
  mkdir -p "$ORDERFLOW_STATE"
  (
    flock -w 600 9 || die "could not take lock $ORDERFLOW_STATE/.$name.lock"
    "$@"
  ) 9>"$ORDERFLOW_STATE/.$name.lock"
}

APT_UPDATED=0
# apt_install PKG...: install Debian packages (runs apt-get update once per process).
apt_install() {
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
    sudo=(sudo)
  fi
  local aptlog="$ORDERFLOW_STATE/apt.log"
  mkdir -p "$ORDERFLOW_STATE"
  log "installing $* with apt-get (log: $aptlog)"
  if ((APT_UPDATED == 0)); then
    if ! "${sudo[@]}" apt-get update >>"$aptlog" 2>&1; then
      show_tail "$aptlog" 30
      die "apt-get update failed"
    fi
    APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "$@" >>"$aptlog" 2>&1; then
    show_tail "$aptlog" 30
    die "apt-get install $* failed"
  fi
}

# need_java: make sure java (>= 17) and mvn are there, installing them from Debian if not.
need_java() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  command -v curl >/dev/null || apt_install curl ca-certificates
}

# java_major: the major version of the java on PATH (17, 21, ...).
java_major() {
  java -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9.]*\).*/\1/p' | sed 's/^1\.//' | cut -d. -f1
}

# mvn_batch ARGS...: Maven in batch mode, quiet, output to a log shown on failure.
mvn_batch() {
  local mvnlog=$1
  shift
  mkdir -p "$(dirname "$mvnlog")"
  if ! mvn -B -q -ntp "$@" >"$mvnlog" 2>&1; then
    show_tail "$mvnlog" 40
    die "mvn $* failed (log: $mvnlog)"
  fi
}
