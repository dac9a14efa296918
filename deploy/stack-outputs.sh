#!/bin/bash
# Prints a CloudFormation stack's outputs as OUT_<key>=<value> lines (deploy.yml appends them to
# $GITHUB_ENV).   deploy/stack-outputs.sh <stack name>
set -euo pipefail
aws cloudformation describe-stacks --stack-name "$1" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text |
  while IFS=$'\t' read -r key value; do printf 'OUT_%s=%s\n' "$key" "$value"; done
