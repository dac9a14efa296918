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
# curl where there is one (Amazon Linux has it), else Node's fetch.
probe() {
  if command -v curl >/dev/null 2>&1; then
    curl --silent --show-error --max-time 5 --fail-with-body "$url"
  else
    "$TRAINYARD_NODE" -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); }, (e) => { console.error(String(e.cause ?? e)); process.exit(1); })' "$url"
  fi
}
body=""
while :; do
  if body=$(probe 2>&1); then
    log "ready: $body"
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    "$TRAINYARD_SYSTEMCTL" status "$TRAINYARD_SERVICE" --no-pager >&2 || true
    die "$url did not answer 200 within ${TRAINYARD_VALIDATE_TIMEOUT}s; last answer: $body"
  fi
  sleep 1
done
