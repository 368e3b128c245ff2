#!/usr/bin/env bash
# The demo region on Apache Spark + Delta: every stage sent with spark-submit to the standalone
# cluster of cluster.sh (start it first), one job each, as on a production cluster.
#
#   deploy/local-cluster/demo.sh [WORKDIR]     # writes WORKDIR/raw and WORKDIR/lake-spark (default .)
#
# Env: MASTER (default spark://127.0.0.1:7077), SCALE (0.02), YEARS (2023-2025), REGION (london),
#      LAS (201,202,203: three London LAs; Apache Spark pays per table and per job, so the whole
#      region takes hours on two one-core workers; empty for every LA),
#      CSLAKE_HASH_KEY_FILE (default: a throwaway demo key outside the lake, as `cslake demo` makes).
set -euo pipefail
# shellcheck source=../cslake-python.sh
. "$(dirname "$0")/../cslake-python.sh"   # here, py
work="$(cd "${1:-.}" && pwd)"
export PYTHON="$py"
lake="$work/lake-spark"
raw="$work/raw"
if [ -z "${CSLAKE_HASH_KEY_FILE:-}" ]; then
  CSLAKE_HASH_KEY_FILE="$("$py" -c 'import sys; from cslake.pseudo import demo_key_file; print(demo_key_file(sys.argv[1]))' "$lake")"
  export CSLAKE_HASH_KEY_FILE
  echo "demo: a throwaway key outside the lake: export CSLAKE_HASH_KEY_FILE=$CSLAKE_HASH_KEY_FILE"
fi
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$work/mlflow.db}"
las="${LAS-201,202,203}"
"$py" -m cslake.cli generate --region "${REGION:-london}" --years "${YEARS:-2023-2025}" --scale "${SCALE:-0.02}" \
  ${las:+--las "$las"} --out "$raw"
for stage in "land $raw" silver linkage gold "train fire-risk" "train early-warning" "score fire-risk" "score early-warning"; do
  echo "== spark-submit ${stage%% *} =="
  # shellcheck disable=SC2086
  "$here/deploy/spark-submit/submit.sh" $stage --lake "$lake"
done
echo "demo: lake at $lake (cslake status --lake $lake)"
