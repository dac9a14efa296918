#!/usr/bin/env bash
# Runs the whole test suite: typecheck, lint, the TypeScript tests (unit and end-to-end over real
# HTTP), the trainer's Python tests and the infrastructure tests. MariaDB-backed runs happen when
# TRAINYARD_TEST_MYSQL_URL is set (.ci/run sets it). Exits non-zero when anything fails.
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
step vitest npx vitest run
step trainer sh -c 'cd trainer && /usr/bin/python3 -m pytest -q'
if [ -f infra/package.json ]; then step infra npm test --prefix infra; fi
if [ -n "$failed" ]; then
  echo "test suite FAILED:$failed"
  exit 1
fi
echo "test suite passed"
