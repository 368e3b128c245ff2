#!/usr/bin/env bash
# A Spark Connect server with Delta Lake, from the pyspark installation (or $SPARK_HOME), then
# point cslake at it:
#
#   deploy/spark-connect/start-server.sh start          # sc://127.0.0.1:15002
#   SPARK_REMOTE=sc://127.0.0.1:15002 cslake land raw --lake /data/lake
#   deploy/spark-connect/start-server.sh stop
#
# The server runs cslake's Python UDFs (the parsers, the keyed hash) in its own Python workers:
# PYTHON must be an interpreter with cslake installed (default .venv/bin/python). The key file
# (CSLAKE_HASH_KEY_FILE) is read by those workers, so the server must be started with it.
# Env: SPARK_CONNECT_PORT (15002), MASTER (local[2]; or spark://127.0.0.1:7077 for the loopback
# cluster of deploy/local-cluster/cluster.sh), CSLAKE_CONNECT_DIR (pid and log; default
# ${TMPDIR:-/tmp}/cslake-connect).
set -euo pipefail
# shellcheck source=../cslake-python.sh
. "$(dirname "$0")/../cslake-python.sh"   # here, py
state="${CSLAKE_CONNECT_DIR:-${TMPDIR:-/tmp}/cslake-connect}"
port="${SPARK_CONNECT_PORT:-15002}"

start() {
  mkdir -p "$state"
  if [ -f "$state/server.pid" ] && kill -0 "$(cat "$state/server.pid")" 2>/dev/null; then
    echo "connect: already running (sc://127.0.0.1:$port)"; return 0
  fi
  local home; home="${SPARK_HOME:-$("$py" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
  mapfile -t delta_args < <("$py" -m cslake.jars submit-args) || exit 3
  [ "${#delta_args[@]}" -gt 0 ] || exit 3
  # Object stores: the server's S3A settings from the AWS_* variables (none without them).
  mapfile -t s3_args < <("$py" -m cslake.storage submit-args) || exit 3
  # A server on this machine serves small data: conf/spark.yaml's loopback_spark settings.
  mapfile -t small_args < <("$py" -m cslake.jars loopback-args) || exit 3
  export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$py}" SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
  nohup "$home/bin/spark-submit" \
    --class org.apache.spark.sql.connect.service.SparkConnectServer \
    --name cslake-connect \
    --master "${MASTER:-local[2]}" \
    "${delta_args[@]}" ${s3_args[@]+"${s3_args[@]}"} "${small_args[@]}" \
    --conf spark.sql.session.timeZone=UTC \
    --conf spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS \
    --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
    --conf spark.connect.grpc.binding.address=127.0.0.1 \
    --conf spark.connect.grpc.binding.port="$port" \
    --conf spark.ui.enabled=false --conf spark.log.level="${SPARK_LOG_LEVEL:-WARN}" \
    ${CSLAKE_HASH_KEY_FILE:+--conf spark.executorEnv.CSLAKE_HASH_KEY_FILE=$CSLAKE_HASH_KEY_FILE} \
    spark-internal >"$state/server.log" 2>&1 &
  echo $! >"$state/server.pid"
  local i
  for ((i = 0; i < 240; i++)); do
    if "$py" - "$port" <<'PY' 2>/dev/null; then echo "connect: sc://127.0.0.1:$port (log $state/server.log)"; return 0; fi
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
PY
    kill -0 "$(cat "$state/server.pid")" 2>/dev/null || { echo "connect: server exited:" >&2; tail -30 "$state/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "connect: server did not listen on $port within 120 s" >&2; tail -30 "$state/server.log" >&2; exit 1
}

stop() {
  if [ -f "$state/server.pid" ]; then
    kill "$(cat "$state/server.pid")" 2>/dev/null || true
    rm -f "$state/server.pid"
  fi
  echo "connect: stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
