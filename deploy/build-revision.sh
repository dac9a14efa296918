#!/bin/bash
# Builds the CodeDeploy revision once, in CI, on the API hosts' OS and architecture (deploy.yml's
# bundle job runs it inside Amazon Linux 2023 on an arm64 runner): the repository at a commit
# (`git archive`, appspec.yml at its root), its production node_modules with better-sqlite3's native
# module built here, and the built dashboard. Hosts then install it as is: no npm, no compiler.
#   deploy/build-revision.sh <source.tar> <web-dist-dir> <out.zip>
set -euo pipefail
source_tar=$1
web_dist=$2
out=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tar -x -C "$work" -f "$source_tar"
[ -f "$web_dist/index.html" ] || { echo "build-revision: $web_dist has no index.html (build the dashboard first)" >&2; exit 1; }
mkdir -p "$work/web"
cp -R "$web_dist" "$work/web/dist"
cd "$work"
# Install scripts stay off (onnxruntime-node's would download CUDA libraries); only
# better-sqlite3's native build runs.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --no-audit --no-fund
npm rebuild better-sqlite3
# What AfterInstall checks on the host: the native module loads on this platform.
node -e "require('better-sqlite3')(':memory:').prepare('select 1').get()"
rm -f "$out"
zip -qry "$out" .
echo "build-revision: $(du -h "$out" | cut -f1) $out"
