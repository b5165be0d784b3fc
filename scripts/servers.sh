#!/usr/bin/env bash
# The real servers the test suite talks to, fetched from Maven Central, cached, started on
# loopback, checked for readiness and stopped:
#   kafka      Apache Kafka 4 broker in KRaft mode (one combined broker+controller node)
#   cassandra  Apache Cassandra 5 node (CQL, the protocol ScyllaDB speaks)
#   keycloak   Keycloak 26 in dev mode, with the Passerelle realm of deploy/keycloak/ imported
#   s3         S3Proxy: the S3 protocol over a local directory, for the vault's S3 engine
#
# usage: scripts/servers.sh start|stop|status|env [SERVER...]   (default: every server)
#
# Idempotent: `start` leaves a running, ready server alone; `stop` on a stopped one is a no-op.
# Quiet: one line per server, unless something fails; then the server's log tail is shown.
#
# Environment (all optional):
#   PASSERELLE_CACHE_DIR      where resolved server classpaths are kept (default ~/.cache/passerelle)
#   PASSERELLE_SERVERS_DIR    where data, logs and pids live (default <repo>/.servers)
#   PASSERELLE_KAFKA_PORT     broker port (default 19092; the controller uses the next one)
#   PASSERELLE_CQL_PORT       CQL port (default 19042)
#   PASSERELLE_KEYCLOAK_PORT  Keycloak HTTP port (default 18080; management on the next one)
#   PASSERELLE_S3_PORT        S3Proxy port (default 19200)
#   JAVA17_HOME               a JDK 17 (Cassandra 5.0 accepts only 11 or 17)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PASSERELLE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/passerelle}
STATE=${PASSERELLE_SERVERS_DIR:-$ROOT/.servers}
KAFKA_PORT=${PASSERELLE_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
CQL_PORT=${PASSERELLE_CQL_PORT:-19042}
CQL_STORAGE_PORT=$((CQL_PORT + 1))
KEYCLOAK_PORT=${PASSERELLE_KEYCLOAK_PORT:-18080}
KEYCLOAK_MANAGEMENT_PORT=$((KEYCLOAK_PORT + 1))
# The test realm's client secret: a test-only value, not a credential of anything real.
KEYCLOAK_CLIENT_SECRET=passerelle-test-secret
KEYCLOAK_GATEWAY_SECRET=passerelle-gateway-test-secret
S3_PORT=${PASSERELLE_S3_PORT:-19200}
# Test-only credentials of the local S3Proxy.
S3_IDENTITY=passerelle-test
S3_CREDENTIAL=passerelle-test-credential
S3_BUCKET=passerelle-test
ALL_SERVERS=(kafka cassandra keycloak s3)

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/scripts/servers/kafka/pom.xml")
CASSANDRA_VERSION=$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$ROOT/scripts/servers/cassandra/pom.xml")
KEYCLOAK_VERSION=$(sed -n 's:.*<keycloak.version>\(.*\)</keycloak.version>.*:\1:p' "$ROOT/scripts/servers/keycloak/pom.xml")
S3PROXY_VERSION=$(sed -n 's:.*<s3proxy.version>\(.*\)</s3proxy.version>.*:\1:p' "$ROOT/scripts/servers/s3proxy/pom.xml")

die() { printf 'servers: %s\n' "$*" >&2; exit 1; }

# Runs a command with its output kept in a file, shown only if it fails.
quiet() {
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then
    printf 'servers: command failed: %s\n' "$*" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}

java17() {
  local candidate
  for candidate in "${JAVA17_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk /usr/lib/jvm/temurin-17-jdk-amd64 /usr/lib/jvm/*17*; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ]; then
      printf '%s/bin/java' "$candidate"; return 0
    fi
  done
  if command -v java >/dev/null && java -version 2>&1 | grep -q 'version "17'; then
    command -v java; return 0
  fi
  die "no JDK 17 found (Cassandra 5.0 runs on 11 or 17 only): set JAVA17_HOME"
}

# Resolves a server's runtime classpath (or, given a goal, its distribution) from Maven
# Central into the cache, once.
resolve() {
  local name=$1 version=$2 dir="$CACHE/$1-$2"; shift 2
  local goal=("$@")
  [ ${#goal[@]} -gt 0 ] || goal=(dependency:copy-dependencies -DincludeScope=runtime)
  if [ ! -f "$dir/.complete" ]; then
    command -v mvn >/dev/null || die "mvn not found: Maven fetches $name from Maven Central"
    mkdir -p "$dir"
    rm -rf "$dir/lib"
    quiet "$dir/resolve.log" mvn -B -q -f "$ROOT/scripts/servers/$name/pom.xml" \
      "${goal[@]}" -DoutputDirectory="$dir/lib" \
      || die "could not fetch $name $version from Maven Central (log: $dir/resolve.log)"
    touch "$dir/.complete"
  fi
  printf '%s' "$dir/lib"
}

pid_alive() { local f=$1; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until `check` succeeds, the process dies, or the timeout passes.
wait_ready() {
  local name=$1 pidfile=$2 log=$3 timeout=$4; shift 4
  local start=$SECONDS
  until "$@"; do
    if ! pid_alive "$pidfile"; then
      printf 'servers: %s exited while starting; last lines of %s:\n' "$name" "$log" >&2
      tail -n 40 "$log" >&2
      return 1
    fi
    if (( SECONDS - start > timeout )); then
      printf 'servers: %s not ready after %ss; last lines of %s:\n' "$name" "$timeout" "$log" >&2
      tail -n 40 "$log" >&2
      return 1
    fi
    sleep 1
  done
}

# --- Kafka ----------------------------------------------------------------------------------

kafka_ready() {
  grep -q 'Kafka Server started' "$STATE/kafka/server.log" 2>/dev/null && port_open "$KAFKA_PORT"
}

start_kafka() {
  local dir="$STATE/kafka" pidfile="$STATE/kafka/pid"
  if pid_alive "$pidfile" && kafka_ready; then
    echo "kafka $KAFKA_VERSION already running on 127.0.0.1:$KAFKA_PORT"; return 0
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another program: set PASSERELLE_KAFKA_PORT"
  local lib java
  lib=$(resolve kafka "$KAFKA_VERSION")
  java=$(java17)
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
  cat >"$dir/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
EOF
  if [ ! -f "$dir/data/meta.properties" ]; then
    # A fixed cluster id: the directory belongs to this one test node.
    quiet "$dir/format.log" "$java" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -cp "$lib/*" kafka.tools.StorageTool format -t LRZ8rk5NR_-oXTl5nAQNsw -c "$dir/server.properties" -g \
      || die "could not format the Kafka data directory (log: $dir/format.log)"
  fi
  : >"$dir/server.log"
  nohup "$java" -Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  wait_ready kafka "$pidfile" "$dir/server.log" 120 kafka_ready
  echo "kafka $KAFKA_VERSION ready on 127.0.0.1:$KAFKA_PORT"
}

# --- Cassandra ------------------------------------------------------------------------------

cassandra_ready() {
  grep -q 'Starting listening for CQL clients' "$STATE/cassandra/system.log" 2>/dev/null && port_open "$CQL_PORT"
}

start_cassandra() {
  local dir="$STATE/cassandra" pidfile="$STATE/cassandra/pid"
  if pid_alive "$pidfile" && cassandra_ready; then
    echo "cassandra $CASSANDRA_VERSION already running on 127.0.0.1:$CQL_PORT"; return 0
  fi
  port_open "$CQL_PORT" && die "port $CQL_PORT is taken by another program: set PASSERELLE_CQL_PORT"
  local lib java jamm
  lib=$(resolve cassandra "$CASSANDRA_VERSION")
  java=$(java17)
  jamm=$(ls "$lib"/jamm-*.jar 2>/dev/null | head -n 1)
  [ -n "$jamm" ] || die "jamm agent missing from the Cassandra classpath in $lib"
  mkdir -p "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints"
  cat >"$dir/cassandra.yaml" <<EOF
cluster_name: passerelle-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$CQL_STORAGE_PORT"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $CQL_STORAGE_PORT
native_transport_port: $CQL_PORT
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - $dir/data
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
concurrent_reads: 8
concurrent_writes: 8
concurrent_counter_writes: 8
memtable_heap_space: 128MiB
memtable_offheap_space: 128MiB
auto_snapshot: false
EOF
  cat >"$dir/logback.xml" <<EOF
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/system.log</file>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
  : >"$dir/system.log"
  local opens=() p
  for p in java.lang.module jdk.internal.loader jdk.internal.ref jdk.internal.reflect jdk.internal.math \
           jdk.internal.module jdk.internal.util.jar sun.nio.ch java.io java.lang.reflect java.lang java.util java.nio; do
    opens+=(--add-opens "java.base/$p=ALL-UNNAMED")
  done
  opens+=(--add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
          --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED)
  for p in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi java.rmi/sun.rmi.registry \
           java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc \
           jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do
    opens+=(--add-exports "$p=ALL-UNNAMED")
  done
  nohup "$java" -Xms1G -Xmx1G -Xss256k -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:G1HeapRegionSize=16m -XX:MaxGCPauseMillis=300 -XX:+UseThreadPriorities \
    -Djava.net.preferIPv4Stack=true -Djdk.attach.allowAttachSelf=true \
    -Dio.netty.tryReflectionSetAccessible=true -Dio.netty.allocator.useCacheForAllThreads=true \
    -Dio.netty.allocator.maxOrder=11 "${opens[@]}" -javaagent:"$jamm" \
    -Dcassandra.config="file://$dir/cassandra.yaml" -Dcassandra.storagedir="$dir" \
    -Dcassandra-foreground=yes -Dcassandra.logdir="$dir" -Dlogback.configurationFile="$dir/logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=100 \
    -Dcassandra.initial_token=0 -Dcassandra.jmx.local.port=$((CQL_PORT + 2)) \
    -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon >"$dir/stdout.log" 2>&1 &
  echo $! >"$pidfile"
  wait_ready cassandra "$pidfile" "$dir/system.log" 300 cassandra_ready
  echo "cassandra $CASSANDRA_VERSION ready on 127.0.0.1:$CQL_PORT"
}

# --- Keycloak -------------------------------------------------------------------------------

http_ok() {
  python3 -c 'import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)' "$1"
}

keycloak_ready() {
  http_ok "http://127.0.0.1:$KEYCLOAK_MANAGEMENT_PORT/health/ready"
}

start_keycloak() {
  local dir="$STATE/keycloak" pidfile="$STATE/keycloak/pid"
  if pid_alive "$pidfile" && keycloak_ready; then
    echo "keycloak $KEYCLOAK_VERSION already running on 127.0.0.1:$KEYCLOAK_PORT"; return 0
  fi
  port_open "$KEYCLOAK_PORT" && die "port $KEYCLOAK_PORT is taken by another program: set PASSERELLE_KEYCLOAK_PORT"
  local lib java realm stamp
  # The zip alone: it is self-contained, and its POM's dependency tree reaches beyond Central.
  lib=$(resolve keycloak "$KEYCLOAK_VERSION" dependency:copy \
    -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip")
  java=$(java17)
  realm="$ROOT/deploy/keycloak/passerelle-realm.json"
  # The distribution is unpacked per state directory: Keycloak writes into it (build step, H2).
  if [ ! -x "$dir/dist/bin/kc.sh" ]; then
    rm -rf "$dir/dist" "$dir/unpack"
    mkdir -p "$dir/unpack"
    quiet "$dir/unpack.log" python3 -m zipfile -e "$lib/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" "$dir/unpack" \
      || die "could not unpack Keycloak"
    mv "$dir/unpack/keycloak-$KEYCLOAK_VERSION" "$dir/dist"
    rm -rf "$dir/unpack"
    chmod +x "$dir/dist/bin/"*.sh
  fi
  # A changed realm file means a fresh database: the import skips realms that exist.
  stamp=$(sha256sum "$realm" | cut -d' ' -f1)
  if [ "$(cat "$dir/realm.sha256" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$dir/dist/data/h2"
    mkdir -p "$dir/dist/data/import"
    cp "$realm" "$dir/dist/data/import/passerelle-realm.json"
    echo "$stamp" >"$dir/realm.sha256"
  fi
  : >"$dir/server.log"
  JAVA_HOME=$(dirname "$(dirname "$java")") \
  JAVA_OPTS_KC_HEAP="-Xms256m -Xmx768m" \
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=admin \
  PASSERELLE_KEYCLOAK_CLIENT_SECRET="$KEYCLOAK_CLIENT_SECRET" \
  PASSERELLE_KEYCLOAK_GATEWAY_SECRET="$KEYCLOAK_GATEWAY_SECRET" \
    nohup "$dir/dist/bin/kc.sh" start-dev --http-host=127.0.0.1 --http-port="$KEYCLOAK_PORT" \
      --http-management-port="$KEYCLOAK_MANAGEMENT_PORT" --health-enabled=true --import-realm \
      --hostname-strict=false --cache=local >"$dir/server.log" 2>&1 &
  echo $! >"$pidfile"
  wait_ready keycloak "$pidfile" "$dir/server.log" 300 keycloak_ready
  echo "keycloak $KEYCLOAK_VERSION ready on 127.0.0.1:$KEYCLOAK_PORT"
}

# --- S3Proxy --------------------------------------------------------------------------------

s3_ready() {
  port_open "$S3_PORT" && grep -q 'ServerConnector' "$STATE/s3/server.log" 2>/dev/null
}

start_s3() {
  local dir="$STATE/s3" pidfile="$STATE/s3/pid"
  if pid_alive "$pidfile" && s3_ready; then
    echo "s3proxy $S3PROXY_VERSION already running on 127.0.0.1:$S3_PORT"; return 0
  fi
  port_open "$S3_PORT" && die "port $S3_PORT is taken by another program: set PASSERELLE_S3_PORT"
  local lib java
  lib=$(resolve s3proxy "$S3PROXY_VERSION" dependency:copy \
    -Dartifact="org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies")
  java=$(java17)
  mkdir -p "$dir/data/$S3_BUCKET"
  cat >"$dir/s3proxy.conf" <<EOF
s3proxy.endpoint=http://127.0.0.1:$S3_PORT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$S3_IDENTITY
s3proxy.credential=$S3_CREDENTIAL
jclouds.provider=filesystem
jclouds.filesystem.basedir=$dir/data
EOF
  : >"$dir/server.log"
  nohup "$java" -Xms64m -Xmx256m -jar "$lib/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar" \
    --properties "$dir/s3proxy.conf" >"$dir/server.log" 2>&1 &
  echo $! >"$pidfile"
  wait_ready s3proxy "$pidfile" "$dir/server.log" 120 s3_ready
  echo "s3proxy $S3PROXY_VERSION ready on 127.0.0.1:$S3_PORT"
}

# --- common ---------------------------------------------------------------------------------

stop_one() {
  local name=$1 pidfile="$STATE/$1/pid" pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  echo "$name stopped"
}

status_one() {
  if pid_alive "$STATE/$1/pid" && "${1}_ready"; then echo "$1: running"; else echo "$1: stopped"; fi
}

env_one() {
  case $1 in
    kafka) echo "PASSERELLE_TEST_KAFKA=127.0.0.1:$KAFKA_PORT" ;;
    cassandra) echo "PASSERELLE_TEST_CQL=127.0.0.1:$CQL_PORT" ;;
    keycloak)
      echo "PASSERELLE_TEST_KEYCLOAK=127.0.0.1:$KEYCLOAK_PORT"
      echo "PASSERELLE_TEST_KEYCLOAK_SECRET=$KEYCLOAK_CLIENT_SECRET"
      echo "PASSERELLE_TEST_KEYCLOAK_GATEWAY_SECRET=$KEYCLOAK_GATEWAY_SECRET" ;;
    s3)
      echo "PASSERELLE_TEST_S3=s3://$S3_BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=us-east-1&allow_http=true"
      echo "AWS_ACCESS_KEY_ID=$S3_IDENTITY"
      echo "AWS_SECRET_ACCESS_KEY=$S3_CREDENTIAL" ;;
  esac
}

main() {
  local cmd=${1:-}; shift || true
  local servers=("$@")
  [ ${#servers[@]} -gt 0 ] || servers=("${ALL_SERVERS[@]}")
  for s in "${servers[@]}"; do
    case $s in kafka|cassandra|keycloak|s3) ;; *) die "unknown server '$s': expected one of ${ALL_SERVERS[*]}" ;; esac
  done
  mkdir -p "$STATE"
  case $cmd in
    start)
      # Start them side by side: each spends most of its start-up waiting on its own JVM.
      local pids=() failed=0
      for s in "${servers[@]}"; do mkdir -p "$STATE/$s"; "start_$s" & pids+=($!); done
      for p in "${pids[@]}"; do wait "$p" || failed=1; done
      return $failed ;;
    stop) for s in "${servers[@]}"; do stop_one "$s"; done ;;
    status) for s in "${servers[@]}"; do status_one "$s"; done ;;
    env) for s in "${servers[@]}"; do env_one "$s"; done ;;
    *) die "usage: scripts/servers.sh start|stop|status|env [${ALL_SERVERS[*]}]" ;;
  esac
}

main "$@"
