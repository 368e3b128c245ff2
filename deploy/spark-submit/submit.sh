#!/usr/bin/env bash
# Submit a cslake job (jobs/<JOB>.py) to Apache Spark 4.2 with Delta Lake.
#
#   deploy/spark-submit/submit.sh land raw --lake lake                 # the loopback cluster
#   MASTER=yarn deploy/spark-submit/submit.sh silver --lake s3a://bucket/lake
#
# Spark comes from pyspark (or $SPARK_HOME); Delta and hadoop-aws from the jars folder
# `cslake jars fetch` fills once (nothing is downloaded here). The job runs in the session
# spark-submit provides: no other variable is needed.
#
# Env: MASTER (default spark://127.0.0.1:7077, the cluster of deploy/local-cluster/cluster.sh),
#      DEPLOY_MODE (client; Python jobs on a standalone cluster run their driver here),
#      PYTHON (the interpreter with cslake installed; default .venv/bin/python, else python3),
#      CSLAKE_HASH_KEY_FILE (the pseudonymisation key file: given to the driver and, as a path,
#      to every executor, which must see the same file: a mounted secret on a real cluster),
#      CSLAKE_LAKE, AWS_* / AWS_ENDPOINT_URL (object stores), SPARK_SUBMIT_OPTS_EXTRA (more args),
#      CSLAKE_SHIP_JARS=1 (send the jars with the job, --jars, for nodes that lack the jars folder;
#      by default every node reads them in place from the same path: 704 MB not copied per job).
set -euo pipefail
job="${1:?usage: submit.sh JOB [ARGS...]   (JOB: a file in jobs/, e.g. land, silver, gold)}"; shift
# shellcheck source=../cslake-python.sh
. "$(dirname "$0")/../cslake-python.sh"   # here, py
[ -f "$here/jobs/$job.py" ] || { echo "submit.sh: no job '$job' in $here/jobs" >&2; exit 2; }
if [ -n "${CSLAKE_HASH_KEY:-}" ] && [ -z "${CSLAKE_HASH_KEY_FILE:-}" ]; then
  # A key in an environment variable would have to travel in Spark's conf to reach the
  # executors, where the UI and event logs show it. Only a file path travels.
  echo "submit.sh: on a cluster give the key as a file every node can read (CSLAKE_HASH_KEY_FILE), not CSLAKE_HASH_KEY" >&2
  exit 3
fi
spark_home="${SPARK_HOME:-$("$py" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
mapfile -t delta_args < <("$py" -m cslake.jars submit-args ${CSLAKE_SHIP_JARS:+--ship}) || exit 3
[ "${#delta_args[@]}" -gt 0 ] || exit 3
env_args=()
for var in CSLAKE_HASH_KEY_FILE CSLAKE_CONF AWS_ENDPOINT_URL AWS_REGION AWS_DEFAULT_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ALLOW_HTTP; do
  # Executors see the driver's settings for these, not the worker daemon's environment.
  if [ -n "${!var:-}" ]; then env_args+=(--conf "spark.executorEnv.$var=${!var}"); fi
done
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$py}" PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$py}"
master="${MASTER:-spark://127.0.0.1:7077}"
loopback_args=()
case "$master" in
  local*|spark://127.*|spark://localhost*)
    # Everything on this machine talks over loopback, not the host's outward address.
    export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
    # And a cluster of this machine's few cores and small tables gets conf/spark.yaml's
    # loopback_spark settings (few shuffle partitions, no code generation: measured there).
    mapfile -t small_args < <("$py" -m cslake.jars loopback-args) || exit 3
    loopback_args=(--conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1
                   "${small_args[@]}") ;;
esac
# shellcheck disable=SC2086
exec "$spark_home/bin/spark-submit" \
  --master "$master" \
  --deploy-mode "${DEPLOY_MODE:-client}" \
  --name "cslake-$job" \
  "${delta_args[@]}" \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.ui.showConsoleProgress=false --conf spark.log.level="${SPARK_LOG_LEVEL:-WARN}" \
  "${env_args[@]}" "${loopback_args[@]}" \
  ${SPARK_SUBMIT_OPTS_EXTRA:-} \
  "$here/jobs/$job.py" "$@"
