# shellcheck shell=bash
# Settings shared by the CodeDeploy hooks (sourced, not run). On an instance the defaults apply and
# the app's configuration comes from the env file the instance's user data wrote; every setting can
# be overridden from the environment, which is how test/deploy/codedeploy.test.ts runs the hooks
# against a temporary directory with a stand-in for systemctl.

# Written once by the instance's user data: where the settings live (TRAINYARD_ENV_PARAMETER) and
# the region. BeforeInstall writes the settings themselves to TRAINYARD_ENV_FILE on every deployment.
TRAINYARD_INSTANCE_ENV_FILE=${TRAINYARD_INSTANCE_ENV_FILE:-/etc/trainyard/instance.env}
if [ -f "$TRAINYARD_INSTANCE_ENV_FILE" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$TRAINYARD_INSTANCE_ENV_FILE"
  set +a
fi
TRAINYARD_ENV_FILE=${TRAINYARD_ENV_FILE:-/etc/trainyard/trainyard.env}
if [ -f "$TRAINYARD_ENV_FILE" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$TRAINYARD_ENV_FILE"
  set +a
fi

TRAINYARD_INSTALL_DIR=${TRAINYARD_INSTALL_DIR:-/opt/trainyard/app}  # appspec.yml `files` destination
TRAINYARD_SERVICE=${TRAINYARD_SERVICE:-trainyard}                   # systemd unit name
TRAINYARD_SYSTEMCTL=${TRAINYARD_SYSTEMCTL:-systemctl}
TRAINYARD_SYSTEMD_DIR=${TRAINYARD_SYSTEMD_DIR:-/etc/systemd/system}
TRAINYARD_USER=${TRAINYARD_USER:-trainyard}                         # the service runs as this user
TRAINYARD_DATA_DIR=${TRAINYARD_DATA_DIR:-/var/lib/trainyard}
TRAINYARD_PORT=${TRAINYARD_PORT:-8080}
TRAINYARD_NODE=${TRAINYARD_NODE:-$(command -v node || echo /usr/bin/node)}
TRAINYARD_AWS_CLI=${TRAINYARD_AWS_CLI:-aws}
TRAINYARD_VALIDATE_TIMEOUT=${TRAINYARD_VALIDATE_TIMEOUT:-180}  # seconds ValidateService waits for /readyz
export TRAINYARD_ENV_FILE TRAINYARD_INSTALL_DIR TRAINYARD_DATA_DIR TRAINYARD_PORT TRAINYARD_AWS_CLI

# shellcheck disable=SC2034  # used by the hooks that source this file
UNIT_FILE="$TRAINYARD_SYSTEMD_DIR/$TRAINYARD_SERVICE.service"

log() {
  printf '%s trainyard-deploy[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${HOOK:-hook}" "$*"
}

die() {
  log "FAILED: $*" >&2
  exit 1
}

# Runs a command as the service user when the hook runs as root (CodeDeploy's default).
as_service_user() {
  if [ "$(id -u)" -eq 0 ] && [ "$TRAINYARD_USER" != root ]; then
    runuser -u "$TRAINYARD_USER" -- "$@"
  else
    "$@"
  fi
}
