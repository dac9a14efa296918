#!/bin/bash
# AfterInstall: install production dependencies into the new revision, apply database migrations
# (`trainyard migrate`) and install the systemd unit. Any failure here, a migration above all,
# fails the deployment before the new code starts, and CodeDeploy rolls back.
set -euo pipefail
HOOK=AfterInstall
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

cd "$TRAINYARD_INSTALL_DIR"
[ -f package-lock.json ] || die "$TRAINYARD_INSTALL_DIR has no package-lock.json: was the revision installed?"

if [ "$TRAINYARD_SKIP_NPM_CI" = 1 ] && [ -d node_modules ]; then
  log "keeping the existing node_modules (TRAINYARD_SKIP_NPM_CI=1)"
else
  log "installing production dependencies"
  # Install scripts stay off (onnxruntime-node's would download CUDA libraries); only
  # better-sqlite3's native build runs.
  export ONNXRUNTIME_NODE_INSTALL=skip
  "$TRAINYARD_NPM" ci --omit=dev --ignore-scripts --no-audit --no-fund
  "$TRAINYARD_NPM" rebuild better-sqlite3
fi

if [ -f web/package.json ] && [ ! -f web/dist/index.html ]; then
  # deploy.yml puts the built dashboard (web/dist) into the revision; the API works without it.
  log "warning: this revision has no built dashboard (web/dist); / will say so, the API is unaffected"
fi

log "applying database migrations"
# The entrypoint assembles TRAINYARD_DATABASE_URL from the database secret (TRAINYARD_DB_SECRET_ARN).
if ! as_service_user "$TRAINYARD_NODE" deploy/entrypoint.mjs migrate; then
  die "trainyard migrate failed: the deployment stops here and the running version is not replaced"
fi

log "installing $UNIT_FILE"
mkdir -p "$TRAINYARD_SYSTEMD_DIR"
# The unit in the repository names the default paths; rewrite them to this instance's settings.
sed -e "s#/opt/trainyard/app#$TRAINYARD_INSTALL_DIR#g" \
    -e "s#/etc/trainyard/trainyard.env#$TRAINYARD_ENV_FILE#g" \
    -e "s#/var/lib/trainyard#$TRAINYARD_DATA_DIR#g" \
    -e "s#/usr/bin/node #$TRAINYARD_NODE #g" \
    -e "s#^User=trainyard#User=$TRAINYARD_USER#" \
    -e "s#^Group=trainyard#Group=$TRAINYARD_USER#" \
    deploy/codedeploy/trainyard.service > "$UNIT_FILE.tmp"
mv "$UNIT_FILE.tmp" "$UNIT_FILE"
"$TRAINYARD_SYSTEMCTL" daemon-reload
log "installed"
