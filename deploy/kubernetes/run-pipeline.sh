#!/usr/bin/env bash
# Run the cslake pipeline on Kubernetes: each SparkApplication in pipeline/ in file order
# (land -> silver -> linkage -> gold -> train -> score), each started only after the one
# before COMPLETED; stops at the first that fails. Needs kubectl pointing at a cluster with
# the Kubeflow Spark Operator, the namespace, service account and Secrets in deploy/README.md.
#
#   deploy/kubernetes/run-pipeline.sh [FIRST_STAGE]     e.g. run-pipeline.sh 05   (resume at train)
#
# An Argo Workflow or any scheduler can do the same: the order is the file names' order.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ns="${CSLAKE_NAMESPACE:-cslake}"
first="${1:-00}"
timeout_s="${CSLAKE_STAGE_TIMEOUT:-21600}"

for manifest in "$here"/pipeline/[0-9][0-9]-*.yaml; do
  stage="$(basename "$manifest" .yaml)"
  [[ "${stage:0:2}" < "${first:0:2}" ]] && continue
  app="cslake-${stage:3}"
  echo "== $stage ($app)"
  kubectl -n "$ns" delete sparkapplication "$app" --ignore-not-found >/dev/null
  kubectl -n "$ns" apply -f "$manifest" >/dev/null
  start=$SECONDS
  while :; do
    state="$(kubectl -n "$ns" get sparkapplication "$app" -o jsonpath='{.status.applicationState.state}' 2>/dev/null || true)"
    case "$state" in
      COMPLETED) echo "   completed in $((SECONDS - start)) s"; break ;;
      FAILED|SUBMISSION_FAILED|INVALIDATING)
        echo "   $state: kubectl -n $ns describe sparkapplication $app; kubectl -n $ns logs $app-driver" >&2
        exit 1 ;;
    esac
    if (( SECONDS - start > timeout_s )); then
      echo "   timed out after ${timeout_s} s (state: ${state:-none})" >&2
      exit 1
    fi
    sleep 10
  done
done
echo "cslake pipeline finished"
