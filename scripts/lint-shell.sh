#!/usr/bin/env bash
# Lints what ESLint does not see: every shell script with shellcheck, and the workflows and
# appspec.yml with yamllint (rules in .github/yamllint.yml). A linter that is not installed is
# skipped with a note, unless --require (CI) makes that an error; `bash scripts/bootstrap.sh
# --test` installs both from Debian when it runs as root. Exits non-zero on any finding.
#   bash scripts/lint-shell.sh [--require]
set -u
cd "$(dirname "$0")/.." || exit 1
require=false
[ "${1:-}" = --require ] && require=true
status=0
missing() {
  if $require; then echo "lint-shell: $1 is not installed" >&2; status=1; else echo "lint-shell: $1 is not installed, skipped"; fi
}
scripts=(.ci/run scripts/*.sh deploy/*.sh deploy/codedeploy/*.sh test/deploy/fixtures/*.sh)
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck --external-sources "${scripts[@]}" || status=1
else
  missing shellcheck
fi
if command -v yamllint >/dev/null 2>&1; then
  yamllint -c .github/yamllint.yml --strict .github appspec.yml || status=1
else
  missing yamllint
fi
exit "$status"
