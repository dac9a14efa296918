#!/bin/bash
# ApplicationStart: (re)start the API under systemd and make it start on boot.
set -euo pipefail
HOOK=ApplicationStart
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[ -f "$UNIT_FILE" ] || die "$UNIT_FILE is missing (AfterInstall installs it)"
"$TRAINYARD_SYSTEMCTL" enable "$TRAINYARD_SERVICE"
"$TRAINYARD_SYSTEMCTL" restart "$TRAINYARD_SERVICE"
log "started $TRAINYARD_SERVICE"
