#!/bin/bash
# Waits for an AWS Batch job to finish: exit 0 when it SUCCEEDED, 1 (with its status reason and
# exit code) when it FAILED.   deploy/wait-batch-job.sh <job id> [poll seconds]
set -euo pipefail
id=$1
poll=${2:-15}
while :; do
  IFS=$'\t' read -r status reason code < <(aws batch describe-jobs --jobs "$id" \
    --query 'jobs[0].[status,statusReason,container.exitCode]' --output text)
  case "$status" in
    SUCCEEDED) echo "job $id succeeded"; exit 0 ;;
    FAILED) echo "job $id failed: $reason (exit code $code)" >&2; exit 1 ;;
    *) echo "job $id: $status"; sleep "$poll" ;;
  esac
done
