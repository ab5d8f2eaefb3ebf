#!/bin/sh
# setup-deps.sh — installs the tools tests/trust_test.sh uses to look at headshot from the
# outside: exiftool (Debian package libimage-exiftool-perl) reads the output's metadata and
# writes GPS / serial-number tags into a test input; strace proves that headshot makes no
# network call and writes no file besides its output. CI runs this before the tests.
#
# Only as root (apt-get); otherwise it says what is missing and exits 0: the trust test then
# prints "# skipped" for those checks. Nothing is installed when both tools are present.
need=""
command -v exiftool >/dev/null 2>&1 || need="$need libimage-exiftool-perl"
command -v strace >/dev/null 2>&1 || need="$need strace"
if [ -z "$need" ]; then
  echo "setup-deps: exiftool $(exiftool -ver) and $(strace -V | head -n 1) already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-deps: not root, so not installing:$need (the trust checks that need them will be skipped)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends $need || {
  echo "setup-deps: apt-get install$need failed" >&2
  exit 1
}
echo "setup-deps: installed$need"
