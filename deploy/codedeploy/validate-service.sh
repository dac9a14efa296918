#!/bin/bash
# ValidateService: poll /readyz (database and blob store reachable) until it answers 200 or the
# deadline passes. A failure here fails the deployment on this instance, and CodeDeploy rolls back.
set -euo pipefail
HOOK=ValidateService
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

url="http://127.0.0.1:$TRAINYARD_PORT/readyz"
deadline=$(( $(date +%s) + TRAINYARD_VALIDATE_TIMEOUT ))
log "waiting up to ${TRAINYARD_VALIDATE_TIMEOUT}s for $url"
body=""
while :; do
  if body=$(curl --silent --show-error --max-time 5 --fail-with-body "$url" 2>&1); then
    log "ready: $body"
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    "$TRAINYARD_SYSTEMCTL" status "$TRAINYARD_SERVICE" --no-pager >&2 || true
    die "$url did not answer 200 within ${TRAINYARD_VALIDATE_TIMEOUT}s; last answer: $body"
  fi
  sleep 1
done
