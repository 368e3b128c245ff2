#!/usr/bin/env bash
# A real Spark standalone cluster on loopback: one master and two workers, started from the
# pyspark installation (no Spark download), for trying jobs with spark-submit as on a cluster.
#
#   deploy/local-cluster/cluster.sh start     # master spark://127.0.0.1:7077, two 1-core workers
#   deploy/spark-submit/submit.sh land raw --lake lake      # MASTER defaults to this cluster
#   deploy/local-cluster/cluster.sh stop
#
# Env: PYTHON (the interpreter whose pyspark to use; default .venv/bin/python, else python3),
#      CSLAKE_CLUSTER_DIR (pids, logs, work dirs; default ${TMPDIR:-/tmp}/cslake-cluster),
#      SPARK_MASTER_PORT (7077), SPARK_WORKERS (2), SPARK_WORKER_CORES (1), SPARK_WORKER_MEMORY (2g).
set -euo pipefail
# shellcheck source=../cslake-python.sh
. "$(dirname "$0")/../cslake-python.sh"   # here, py
state="${CSLAKE_CLUSTER_DIR:-${TMPDIR:-/tmp}/cslake-cluster}"
port="${SPARK_MASTER_PORT:-7077}"
master="spark://127.0.0.1:$port"
workers="${SPARK_WORKERS:-2}"

spark_home() { "$py" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))'; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for LOGFILE PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 2; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.5
  done
  echo "cluster: gave up waiting for '$2' in $1:" >&2
  tail -20 "$1" >&2 || true
  return 1
}

start() {
  mkdir -p "$state"
  local home; home="$(spark_home)"
  export SPARK_HOME="$home" SPARK_LOG_DIR="$state/logs" SPARK_LOCAL_IP=127.0.0.1
  mkdir -p "$SPARK_LOG_DIR"
  if alive "$state/master.pid"; then
    echo "cluster: master already running ($master)"
  else
    nohup "$home/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$port" --webui-port 0 >"$state/logs/master.out" 2>&1 &
    echo $! >"$state/master.pid"
    wait_for "$state/logs/master.out" "I have been elected leader" 60
  fi
  local i
  for ((i = 1; i <= workers; i++)); do
    if alive "$state/worker$i.pid"; then continue; fi
    mkdir -p "$state/work$i"
    # Finished applications' folders are removed after an hour (else every job's logs and
    # files pile up in the work folders for as long as the cluster lives).
    SPARK_WORKER_OPTS="${SPARK_WORKER_OPTS:--Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=600 -Dspark.worker.cleanup.appDataTtl=3600}" \
    nohup "$home/bin/spark-class" org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --webui-port 0 --cores "${SPARK_WORKER_CORES:-1}" --memory "${SPARK_WORKER_MEMORY:-2g}" \
      --work-dir "$state/work$i" "$master" >"$state/logs/worker$i.out" 2>&1 &
    echo $! >"$state/worker$i.pid"
  done
  for ((i = 1; i <= workers; i++)); do
    wait_for "$state/logs/worker$i.out" "Successfully registered with master" 60
  done
  echo "cluster: $master with $workers workers (state in $state)"
}

stop() {
  local f
  for f in "$state"/worker*.pid "$state"/master.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then kill "$(cat "$f")" 2>/dev/null || true; fi
    rm -f "$f"
  done
  echo "cluster: stopped"
}

status() {
  local f up=0
  for f in "$state"/master.pid "$state"/worker*.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then echo "$(basename "$f" .pid): running (pid $(cat "$f"))"; up=1; fi
  done
  [ "$up" = 1 ] || { echo "cluster: not running"; return 1; }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$master" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
