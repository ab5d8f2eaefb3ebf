#!/bin/sh
# tools/reference/run-all.sh — step 3 of 3 of docs/MODELS.md: regenerate tests/golden/.
#
# Runs every tools/reference/gold-*.mjs (one per network, in name order) from the repository
# root. Each runs the ORIGINAL TF.js model (tfjs 4.22.0, pinned in package-lock.json) on a
# fixed input and writes tests/golden/*.hsw (format: docs/WEIGHTS.md, conventions:
# tools/reference/lib.mjs). Installs the pinned npm packages first if they are missing.
# Needs tools/fetch-models.sh to have run. Stops at the first failing script.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
if [ ! -d tools/models ]; then
  echo "run-all: tools/models is missing: run tools/fetch-models.sh first" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/@tensorflow/tfjs-core" ]; then
  echo "installing the pinned reference packages (npm ci in tools/reference)"
  (cd "$here" && npm ci --no-audit --no-fund)
fi
n=0
for script in "$here"/gold-*.mjs; do
  [ -f "$script" ] || continue
  echo "== ${script#"$PWD"/}"
  node "$script"
  n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
  echo "run-all: no gold-*.mjs scripts in tools/reference" >&2
  exit 1
fi
echo "ran $n golden scripts; files in tests/golden/:"
ls -l tests/golden/
