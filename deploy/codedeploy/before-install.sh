#!/bin/bash
# BeforeInstall: check the instance can run Trainyard (Node 20+), write the current settings from
# their SSM parameter to the env file (so a changed stack setting reaches every instance with the
# next deployment), and create the service user and the directories the revision is installed into.
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

if [ -n "${TRAINYARD_ENV_PARAMETER:-}" ]; then
  log "writing $TRAINYARD_ENV_FILE from the SSM parameter $TRAINYARD_ENV_PARAMETER"
  tmp="$TRAINYARD_ENV_FILE.tmp.$$"
  if ! "$TRAINYARD_AWS_CLI" ssm get-parameter --name "$TRAINYARD_ENV_PARAMETER" --query Parameter.Value --output text > "$tmp"; then
    rm -f "$tmp"
    die "could not read the settings parameter $TRAINYARD_ENV_PARAMETER (the instance role may read it: was the stack deployed?)"
  fi
  [ -s "$tmp" ] || { rm -f "$tmp"; die "the settings parameter $TRAINYARD_ENV_PARAMETER is empty"; }
  chmod 0644 "$tmp"
  mv "$tmp" "$TRAINYARD_ENV_FILE"
fi

mkdir -p "$TRAINYARD_INSTALL_DIR" "$TRAINYARD_DATA_DIR"
if [ "$(id -u)" -eq 0 ]; then
  chown "$TRAINYARD_USER:" "$TRAINYARD_DATA_DIR"
  chmod 0750 "$TRAINYARD_DATA_DIR"
fi
log "ready to install into $TRAINYARD_INSTALL_DIR (node $("$TRAINYARD_NODE" --version))"
