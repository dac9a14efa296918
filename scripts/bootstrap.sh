#!/usr/bin/env bash
# Installs whatever is missing for Trainyard on a Debian/Ubuntu machine with Node 20+, then exits.
#   bash scripts/bootstrap.sh          what `npm start` needs (npm packages, PyTorch from the OS)
#   bash scripts/bootstrap.sh --test   also what the test suite needs (pytest, Chromium, infra deps,
#                                      and as root shellcheck and yamllint)
# It is idempotent and quick when everything is already there.
set -eu
cd "$(dirname "$0")/.."

want_tests=false
[ "${1:-}" = "--test" ] && want_tests=true

major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "bootstrap: Node 20 or newer is required (found $(node --version))" >&2
  exit 1
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "bootstrap: need root to run: $*" >&2; exit 1
  fi
}

apt_missing=()
need_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || apt_missing+=("$1"); }
if ! /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1; then need_deb python3-torch; fi
if ! /usr/bin/python3 -c 'import optuna' >/dev/null 2>&1; then need_deb python3-optuna; fi  # tuning studies' sampler
if $want_tests; then
  need_deb python3-pytest
  need_deb python3-jsonschema  # the trainer's tests validate job.json and events against contracts/
  need_deb chromium
  need_deb wrk # bench/predict.ts's load generator (it falls back to autocannon, which takes more of the CPU)
  # scripts/lint-shell.sh's linters: optional (the test suite skips them when absent), so only as root.
  if [ "$(id -u)" -eq 0 ]; then need_deb shellcheck; need_deb yamllint; fi
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing OS packages: ${apt_missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

# npm ci when node_modules is missing or older than the lock file. onnxruntime-node's postinstall
# (a CUDA download) is switched off in package.json allowScripts; the variable is belt and braces.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: installing npm packages"
  npm ci --no-audit --no-fund
fi
if $want_tests && [ -f infra/package.json ]; then
  if [ ! -f infra/node_modules/.package-lock.json ] || [ infra/package-lock.json -nt infra/node_modules/.package-lock.json ]; then
    echo "bootstrap: installing infra (CDK) packages"
    npm ci --prefix infra --no-audit --no-fund
  fi
fi
if [ -f web/package.json ]; then
  if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    echo "bootstrap: installing dashboard packages"
    npm ci --prefix web --no-audit --no-fund
  fi
  if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/index.html -newer web/dist/index.html 2>/dev/null | head -n 1)" ]; then
    echo "bootstrap: building the dashboard"
    npm run --prefix web build
  fi
fi
