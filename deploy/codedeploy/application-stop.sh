#!/bin/bash
# ApplicationStop: stop the running API before the new revision's files are copied in. CodeDeploy
# runs this hook from the previous revision; on an instance's first deployment there is nothing to stop.
set -euo pipefail
HOOK=ApplicationStop
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

if [ ! -f "$UNIT_FILE" ]; then
  log "no $UNIT_FILE yet: nothing to stop"
  exit 0
fi
log "stopping $TRAINYARD_SERVICE"
"$TRAINYARD_SYSTEMCTL" stop "$TRAINYARD_SERVICE"
log "stopped"
