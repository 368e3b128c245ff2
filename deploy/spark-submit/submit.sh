#!/usr/bin/env bash
# Submit a cslake job to a Spark 4 cluster with Delta Lake.
#   deploy/spark-submit/submit.sh land s3a://bucket/raw --lake s3a://bucket/lake
#   deploy/spark-submit/submit.sh silver --lake s3a://bucket/lake
# Env: SPARK_HOME, MASTER (default yarn), DELTA_VERSION (default 4.0.0), CSLAKE_HASH_KEY_FILE.
set -euo pipefail
job="${1:?usage: submit.sh JOB [ARGS...]}"; shift
here="$(cd "$(dirname "$0")/../.." && pwd)"
[ -f "$here/jobs/$job.py" ] || { echo "no job $job in $here/jobs" >&2; exit 2; }
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
# Ship the package as a zip on the executors' PYTHONPATH, and conf/ beside it.
(cd "$here/lib" && zip -qr "$build/cslake.zip" cslake)
(cd "$here" && zip -qr "$build/cslake-conf.zip" conf)
exec "${SPARK_HOME:?set SPARK_HOME}/bin/spark-submit" \
  --master "${MASTER:-yarn}" \
  --deploy-mode "${DEPLOY_MODE:-cluster}" \
  --packages "io.delta:delta-spark_2.13:${DELTA_VERSION:-4.0.0}" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  --conf "spark.executorEnv.CSLAKE_CONF=./cslake-conf.zip/conf" \
  --conf "spark.yarn.appMasterEnv.CSLAKE_CONF=./cslake-conf.zip/conf" \
  --conf "spark.executorEnv.CSLAKE_HASH_KEY_FILE=${CSLAKE_HASH_KEY_FILE:-/etc/cslake/hash.key}" \
  --py-files "$build/cslake.zip" \
  --archives "$build/cslake-conf.zip#cslake-conf.zip" \
  "$here/jobs/$job.py" "$@"
