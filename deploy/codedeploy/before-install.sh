#!/bin/bash
# BeforeInstall: check the instance can run Trainyard (Node 20+), and create the service user and
# the directories the new revision is installed into.
set -euo pipefail
HOOK=BeforeInstall
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

[ -x "$TRAINYARD_NODE" ] || die "node not found (looked for $TRAINYARD_NODE); the instance's user data installs Node 20"
major=$("$TRAINYARD_NODE" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node 20 or newer is required, found $("$TRAINYARD_NODE" --version)"

if ! id -u "$TRAINYARD_USER" >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "user $TRAINYARD_USER does not exist and this hook is not root"
  log "creating system user $TRAINYARD_USER"
  useradd --system --home-dir "$TRAINYARD_DATA_DIR" --shell /sbin/nologin "$TRAINYARD_USER"
fi

mkdir -p "$TRAINYARD_INSTALL_DIR" "$TRAINYARD_DATA_DIR"
if [ "$(id -u)" -eq 0 ]; then
  chown "$TRAINYARD_USER:" "$TRAINYARD_DATA_DIR"
  chmod 0750 "$TRAINYARD_DATA_DIR"
fi
log "ready to install into $TRAINYARD_INSTALL_DIR (node $("$TRAINYARD_NODE" --version))"
