#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft: broker + controller in one JVM) on loopback, for
# development and tests. The broker jars and their runtime dependencies come from Maven Central.
#
#   deploy/kafka/local.sh fetch    download Kafka + runtime dependencies into the cache (once)
#   deploy/kafka/local.sh start    fetch if needed, format storage if needed, start, wait until ready
#   deploy/kafka/local.sh stop     SIGTERM, wait, SIGKILL fallback
#   deploy/kafka/local.sh status   exit 0 if running and reachable, 1 otherwise
#   deploy/kafka/local.sh logs     tail the broker log
#   deploy/kafka/local.sh acquire <pid>   for test runs: hold a lease (pid = the test runner) and
#                                         start the broker if it is not running
#   deploy/kafka/local.sh release <pid>   drop the lease; the broker is stopped when the last lease
#                                         goes, but only if a lease started it (a broker started with
#                                         `start` belongs to the developer and is left running)
#
# Environment (all optional):
#   KAFKA_VERSION        Apache Kafka version (default 4.1.1)
#   KAFKA_CACHE_DIR      where jars go        (default ~/.cache/laender-gateway/kafka-$KAFKA_VERSION)
#   KAFKA_DATA_DIR       storage, config, log, pid file (default <repo>/.cache/kafka)
#   KAFKA_PORT           client listener on 127.0.0.1 (default 9092)
#   KAFKA_CONTROLLER_PORT controller listener on 127.0.0.1 (default KAFKA_PORT+1)
#   KAFKA_ADVERTISED_PORT the client port the broker tells clients to connect to (default KAFKA_PORT;
#                        another one where a proxy or test relay in front of the broker listens)
#   KAFKA_HEAP_OPTS      JVM heap (default -Xms256m -Xmx512m)
#   KAFKA_JVM_OPTS       other JVM options (default: C1 JIT only, for fast start; G1 GC)
#   KAFKA_START_TIMEOUT  seconds to wait for readiness (default 90)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
SCALA_VERSION="2.13"
# The log4j2 version Kafka 4.x is built with (kafka-server's pom brings log4j-api/-core at this version).
LOG4J_VERSION="${LOG4J_VERSION:-2.24.3}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$HOME/.cache/laender-gateway/kafka-$KAFKA_VERSION}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$REPO_ROOT/.cache/kafka}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_ADVERTISED_PORT="${KAFKA_ADVERTISED_PORT:-$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# C1 only: the broker is ready in about half the time; set KAFKA_JVM_OPTS="-XX:+UseG1GC" for peak throughput.
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseG1GC -XX:MaxGCPauseMillis=20}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

LIBS_DIR="$KAFKA_CACHE_DIR/libs"
FETCHED_MARKER="$KAFKA_CACHE_DIR/.fetched"
STORAGE_DIR="$KAFKA_DATA_DIR/storage"
CONFIG_FILE="$KAFKA_DATA_DIR/server.properties"
LOG4J_FILE="$KAFKA_DATA_DIR/log4j2.properties"
LOG_DIR="$KAFKA_DATA_DIR/logs"
LOG_FILE="$LOG_DIR/server.log"
STDOUT_FILE="$LOG_DIR/stdout.log"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
LOCK_FILE="$KAFKA_DATA_DIR/.lock"
LEASE_DIR="$KAFKA_DATA_DIR/leases"
# Present while the running broker was started by `acquire` (and so may be stopped by `release`).
LEASED_MARKER="$KAFKA_DATA_DIR/started-by-acquire"

INSTALL_HINT="install it with: apt-get install -y openjdk-17-jre-headless maven"

say() { printf 'kafka-local: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

need_java() {
  command -v java >/dev/null 2>&1 || die "java (17 or newer) is not on PATH; $INSTALL_HINT"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  major="${major#1.}"
  if [[ -n "$major" && "$major" =~ ^[0-9]+$ && "$major" -lt 17 ]]; then
    die "Kafka $KAFKA_VERSION needs Java 17 or newer, found $major; $INSTALL_HINT"
  fi
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 || die "mvn (Apache Maven) is not on PATH, needed once to fetch Kafka from Maven Central; $INSTALL_HINT"
}

# --- fetch ---------------------------------------------------------------------------------------

cmd_fetch() {
  local recipe="kafka_${SCALA_VERSION}:${KAFKA_VERSION} log4j-slf4j-impl:${LOG4J_VERSION}"
  if [[ -f "$FETCHED_MARKER" && "$(cat "$FETCHED_MARKER")" == "$recipe" && -f "$LIBS_DIR/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]]; then
    return 0
  fi
  need_java
  need_mvn
  mkdir -p "$KAFKA_CACHE_DIR"
  say "fetching Apache Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central into $LIBS_DIR"
  # Kafka 4.x logs through slf4j 1.7 -> log4j2. Its poms bring slf4j-api 1.7.36 and log4j-api/-core
  # (runtime scope of kafka-server) but not the slf4j binding the distribution ships in libs/
  # (log4j-slf4j-impl, the slf4j 1.x binding; log4j-slf4j2-impl would find no slf4j 2 API and log nothing).
  cat >"$KAFKA_CACHE_DIR/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>de.laender-gateway.local</groupId>
  <artifactId>kafka-local</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$LIBS_DIR.tmp"
  if ! (cd "$KAFKA_CACHE_DIR" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$LIBS_DIR.tmp" >"$KAFKA_CACHE_DIR/mvn.log" 2>&1); then
    rm -rf "$LIBS_DIR.tmp"
    tail -n 30 "$KAFKA_CACHE_DIR/mvn.log" >&2 || true
    die "mvn could not resolve org.apache.kafka:kafka_${SCALA_VERSION}:${KAFKA_VERSION} (is Maven Central reachable?)"
  fi
  rm -rf "$LIBS_DIR"
  mv "$LIBS_DIR.tmp" "$LIBS_DIR"
  echo "$recipe" >"$FETCHED_MARKER"
  say "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars"
}

# --- helpers -------------------------------------------------------------------------------------

pid_alive() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # A recycled pid is not our broker.
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  fi
}

port_open() {
  # bash's /dev/tcp: no nc needed.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Readiness: the broker answers a metadata request through the Kafka protocol (kcat, the same path
# clients take). Without kcat: the port is open and the server logged that it finished starting.
broker_ready() {
  port_open "$KAFKA_PORT" || return 1
  if command -v kcat >/dev/null 2>&1; then
    kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 5 >/dev/null 2>&1
  else
    grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null
  fi
}

write_config() {
  mkdir -p "$STORAGE_DIR" "$LOG_DIR"
  cat >"$CONFIG_FILE" <<EOF
# Generated by deploy/kafka/local.sh: single-node KRaft for development and tests. Not for production.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:${KAFKA_CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_ADVERTISED_PORT},CONTROLLER://127.0.0.1:${KAFKA_CONTROLLER_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${STORAGE_DIR}

# fast tests: no join delay, few internal partitions, one replica
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=4
offsets.topic.replication.factor=1
transaction.state.log.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
# The 4.x group coordinator batches its writes (offset commits included) for 5 ms by default;
# consumers that commit after every record would wait for that linger on each commit.
group.coordinator.append.linger.ms=0
default.replication.factor=1
num.partitions=4
auto.create.topics.enable=false
delete.topic.enable=true

# small segments, short retention: this is a scratch broker
log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
num.network.threads=2
num.io.threads=4
EOF
  cat >"$LOG4J_FILE" <<EOF
# Generated by deploy/kafka/local.sh
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = ${LOG_FILE}
appender.file.filePattern = ${LOG_DIR}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.logcleaner.name = kafka.log
logger.logcleaner.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
# the full config dump of every client and server component
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
EOF
}

format_storage() {
  local ports_file="$KAFKA_DATA_DIR/formatted-for-ports"
  local ports="${KAFKA_PORT} ${KAFKA_CONTROLLER_PORT}"
  if [[ -f "$STORAGE_DIR/meta.properties" ]]; then
    # The KRaft voter set recorded at format time names the controller's address.
    if [[ ! -f "$ports_file" || "$(cat "$ports_file")" == "$ports" ]]; then
      echo "$ports" >"$ports_file"
      return 0
    fi
    say "storage in $STORAGE_DIR was formatted for other ports ($(cat "$ports_file")); wiping this scratch broker's data"
    rm -rf "$STORAGE_DIR"
    mkdir -p "$STORAGE_DIR"
  fi
  local cluster_id
  cluster_id="$(java -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_FILE" -Dkafka.logs.dir="$LOG_DIR" \
    kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
  [[ -n "$cluster_id" ]] || die "kafka.tools.StorageTool random-uuid produced no id"
  say "formatting KRaft storage in $STORAGE_DIR (cluster id $cluster_id)"
  java -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_FILE" -Dkafka.logs.dir="$LOG_DIR" \
    kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$CONFIG_FILE" --ignore-formatted \
    >>"$STDOUT_FILE" 2>&1 || {
    tail -n 20 "$STDOUT_FILE" >&2 || true
    die "formatting the storage failed"
  }
  echo "$ports" >"$ports_file"
}

print_log_tail() {
  say "last lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
  if [[ -s "$STDOUT_FILE" ]]; then
    say "last lines of $STDOUT_FILE:"
    tail -n 20 "$STDOUT_FILE" >&2 || true
  fi
}

# --- start / stop / status -----------------------------------------------------------------------

start_broker() {
  if pid_alive && port_open "$KAFKA_PORT"; then
    say "already running (pid $(cat "$PID_FILE")) on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  if ! pid_alive && port_open "$KAFKA_PORT"; then
    die "127.0.0.1:$KAFKA_PORT is taken by another process (not started by this script); set KAFKA_PORT or KAFKA_BROKERS"
  fi
  need_java
  cmd_fetch
  local started
  started="$(date +%s)"
  if ! pid_alive; then
    rm -f "$PID_FILE"
    write_config
    format_storage
    say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, data $KAFKA_DATA_DIR)"
    # shellcheck disable=SC2086
    nohup java -server $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J_FILE" -Dkafka.logs.dir="$LOG_DIR" \
      -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG_FILE" >>"$STDOUT_FILE" 2>&1 </dev/null 9>&- &
    echo $! >"$PID_FILE"
  fi
  local deadline=$((started + KAFKA_START_TIMEOUT))
  local launched
  launched="$(cat "$PID_FILE")"
  while :; do
    # kill -0 on the pid we just launched, not pid_alive: until nohup has exec'd java, the child's
    # cmdline is still this script's, and pid_alive's recycled-pid check would call it dead (seen
    # under load: "the broker exited during startup" with nothing in its logs).
    if ! kill -0 "$launched" 2>/dev/null; then
      print_log_tail
      rm -f "$PID_FILE"
      die "the broker exited during startup"
    fi
    if broker_ready; then
      break
    fi
    if (($(date +%s) >= deadline)); then
      print_log_tail
      die "the broker did not become ready within ${KAFKA_START_TIMEOUT}s (pid $(cat "$PID_FILE"), still running; stop it with: $0 stop)"
    fi
    sleep 0.5
  done
  say "ready on 127.0.0.1:$KAFKA_PORT after $(($(date +%s) - started))s (pid $(cat "$PID_FILE"), log $LOG_FILE)"
}

stop_broker() {
  if ! pid_alive; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  local pid i
  pid="$(cat "$PID_FILE")"
  say "stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 30s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_start() {
  lock
  start_broker
  # Started or found by hand: the developer's broker, which `release` leaves running.
  rm -f "$LEASED_MARKER"
}

cmd_stop() {
  lock
  stop_broker
  rm -f "$LEASED_MARKER"
}

cmd_status() {
  if pid_alive && broker_ready; then
    say "running (pid $(cat "$PID_FILE")) on 127.0.0.1:$KAFKA_PORT, Kafka $KAFKA_VERSION"
    return 0
  fi
  if pid_alive; then
    say "process $(cat "$PID_FILE") is running but 127.0.0.1:$KAFKA_PORT does not answer"
  else
    say "not running"
  fi
  return 1
}

# --- locking and leases (several test runs may share one broker) ---------------------------------

lock() {
  mkdir -p "$KAFKA_DATA_DIR"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$LOCK_FILE"
  flock -w 300 9 || die "could not lock $LOCK_FILE within 300s"
}

prune_leases() {
  mkdir -p "$LEASE_DIR"
  local f
  for f in "$LEASE_DIR"/*; do
    [[ -e "$f" ]] || continue
    kill -0 "$(basename "$f")" 2>/dev/null || rm -f "$f"
  done
}

holder_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] || die "usage: $0 ${2} <pid of the process holding the lease>"
  echo "$1"
}

cmd_acquire() {
  local holder
  holder="$(holder_arg "${1:-}" acquire)"
  lock
  prune_leases
  if pid_alive && broker_ready; then
    touch "$LEASE_DIR/$holder"
    say "lease for $holder on the running broker (pid $(cat "$PID_FILE"))"
    return 0
  fi
  start_broker
  touch "$LEASED_MARKER" "$LEASE_DIR/$holder"
}

cmd_release() {
  local holder
  holder="$(holder_arg "${1:-}" release)"
  lock
  rm -f "$LEASE_DIR/$holder"
  prune_leases
  if compgen -G "$LEASE_DIR/*" >/dev/null; then
    say "broker stays up for $(find "$LEASE_DIR" -type f | wc -l) other lease(s)"
    return 0
  fi
  if [[ -f "$LEASED_MARKER" ]]; then
    stop_broker
    rm -f "$LEASED_MARKER"
  fi
}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

case "${1:-}" in
fetch) cmd_fetch ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
logs) tail -n "${2:-100}" "$LOG_FILE" ;;
acquire) cmd_acquire "${2:-}" ;;
release) cmd_release "${2:-}" ;;
*) usage ;;
esac
