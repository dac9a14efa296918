#!/usr/bin/env bash
# Runs the whole test suite: typecheck, lint, the import-cycle check, the TypeScript tests (unit
# and end-to-end over real HTTP), the trainer's Python tests and the infrastructure tests.
# MariaDB-backed runs happen when TRAINYARD_TEST_MYSQL_URL is set (.ci/run sets it, and
# TRAINYARD_TEST_REAL_DB_OUTAGE=1 for the outage test that stops MariaDB). Exits non-zero when
# anything fails.
set -u
cd "$(dirname "$0")/.." || exit 1
failed=""
step() {
  name=$1; shift
  echo "== $name"
  if "$@"; then echo "== $name: ok"; else echo "== $name: FAILED"; failed="$failed $name"; fi
}
step typecheck npx tsc --noEmit
step lint npx eslint .
# Shell scripts (shellcheck) and the workflows and appspec.yml (yamllint), when they are installed.
step lint-shell bash scripts/lint-shell.sh
# Zero import cycles in src/ (an interface file that imports its implementations, two modules that
# need each other's types): madge lists each cycle it finds and exits non-zero.
step import-cycles npx madge --circular --extensions ts,tsx --ts-config tsconfig.json --no-color src
# The vitest log is kept so the end of this script can repeat which tests failed: CI shows only
# the tail of the output, and the infrastructure tests print after vitest.
vitest_log=$(mktemp)
trap 'rm -f "$vitest_log"' EXIT
# shellcheck disable=SC2016 # $1 is the inner shell's: the log's path, passed as an argument
step vitest bash -c 'set -o pipefail; npx vitest run 2>&1 | tee "$1"' vitest "$vitest_log"
# The database-outage acceptance with MariaDB really stopped and restarted: alone, after the main
# suite, since it takes down the server every MariaDB test shares (CI sets the variable).
if [ -n "${TRAINYARD_TEST_MYSQL_URL:-}" ] && [ "${TRAINYARD_TEST_REAL_DB_OUTAGE:-}" = 1 ]; then
  step fleet-db-outage npx vitest run --config test/fleet.vitest.config.ts
fi
step trainer sh -c 'cd trainer && /usr/bin/python3 -m pytest -q'
if [ -f infra/package.json ]; then step infra npm test --prefix infra; fi
if [ -n "$failed" ]; then
  failed_tests=$(sed 's/\x1b\[[0-9;]*m//g' "$vitest_log" | grep -E '^ *FAIL ' | sort -u)
  if [ -n "$failed_tests" ]; then echo "== failed vitest tests:"; echo "$failed_tests"; fi
  echo "test suite FAILED:$failed"
  exit 1
fi
echo "test suite passed"
