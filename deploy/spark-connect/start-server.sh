#!/usr/bin/env bash
# Start a Spark 4 Connect server with Delta Lake, then point cslake at it:
#   deploy/spark-connect/start-server.sh
#   SPARK_REMOTE=sc://localhost:15002 cslake land raw --lake /data/lake
# The server's executors need the cslake package importable (for the parse tasks):
# install it into the server's Python environment first (pip install .).
set -euo pipefail
exec "${SPARK_HOME:?set SPARK_HOME}/sbin/start-connect-server.sh" \
  --packages "io.delta:delta-spark_2.13:${DELTA_VERSION:-4.0.0}" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.connect.grpc.binding.port="${SPARK_CONNECT_PORT:-15002}"
