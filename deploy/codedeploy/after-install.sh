#!/bin/bash
# AfterInstall: check the revision brings working production dependencies, and install the systemd
# unit. A failure here fails the deployment before the new code starts, and CodeDeploy rolls back.
set -euo pipefail
HOOK=AfterInstall
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

cd "$TRAINYARD_INSTALL_DIR"
[ -f package-lock.json ] || die "$TRAINYARD_INSTALL_DIR has no package-lock.json: was the revision installed?"

# The revision carries its production node_modules, built once in CI on this OS and architecture
# (deploy.yml's bundle job, deploy/build-revision.sh): hosts never run npm or a compiler.
[ -d node_modules ] || die "the revision has no node_modules: build it with deploy/build-revision.sh (deploy.yml's bundle job)"
if ! "$TRAINYARD_NODE" -e "require('better-sqlite3')"; then
  die "the revision's native modules do not load here (built for another OS or architecture?)"
fi

if [ -f web/package.json ] && [ ! -f web/dist/index.html ]; then
  # The bundle job puts the built dashboard (web/dist) into the revision; the API works without it.
  log "warning: this revision has no built dashboard (web/dist); / will say so, the API is unaffected"
fi

# No migration here. deploy.yml runs `trainyard migrate` once, as a Batch job, before anything
# switches; migrations are backward-compatible (docs/deploy.md, expand/contract), so this revision
# and the previous one both run on the migrated schema, and a rollback to the previous revision
# must not run its older migrator against a schema it does not know.

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
