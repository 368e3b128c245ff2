#!/usr/bin/env bash
# An S3-compatible server on loopback (moto's server mode, from the dev extra) for trying the
# drop zone and the lake on s3a:// as on a real object store: the same server the tests start.
#
#   deploy/local-s3/s3-server.sh start          # http://127.0.0.1:9000, buckets cslake-raw, cslake-lake
#   eval "$(deploy/local-s3/s3-server.sh env)"  # AWS_ENDPOINT_URL, keys, region for every engine
#   .venv/bin/cslake generate --region london --years 2025 --scale 0.02 --out raw
#   .venv/bin/python -m tests.s3_server upload raw s3a://cslake-raw/london   # or any S3 client
#   deploy/spark-submit/submit.sh land s3a://cslake-raw/london --lake s3a://cslake-lake/lake
#   deploy/local-s3/s3-server.sh stop
#
# Env: PYTHON (default .venv/bin/python, else python3), CSLAKE_S3_PORT (9000),
#      CSLAKE_S3_BUCKETS ("cslake-raw cslake-lake"), CSLAKE_S3_DIR (log; ${TMPDIR:-/tmp}/cslake-s3).
# The data lives in the server's memory and goes when it stops.
set -euo pipefail
# shellcheck source=../cslake-python.sh
. "$(dirname "$0")/../cslake-python.sh"   # here, py
port="${CSLAKE_S3_PORT:-9000}"
state="${CSLAKE_S3_DIR:-${TMPDIR:-/tmp}/cslake-s3}"
buckets=()
for b in ${CSLAKE_S3_BUCKETS:-cslake-raw cslake-lake}; do buckets+=(--bucket "$b"); done

cd "$here"
case "${1:-}" in
  start)
    mkdir -p "$state"
    exec "$py" -m tests.s3_server start --port "$port" "${buckets[@]}" --log "$state/moto-$port.log" ;;
  stop)
    exec "$py" -m tests.s3_server stop --port "$port" ;;
  env)
    exec "$py" -m tests.s3_server env --port "$port" ;;
  *)
    echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
