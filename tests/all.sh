#!/bin/sh
# The whole test suite, up to four times over the same checks:
#   native     - the kernels this CPU picks (AVX-512 or AVX2 on x86-64, NEON on arm64)
#   avx2       - HEADSHOT_ISA=avx2, only on a CPU with AVX-512: the set such a CPU never
#                picks by itself, so that AVX2 machines keep a tested path (the test
#                programs: kernels, goldens, the pipeline in-process; isa_test.sh compares
#                its headshot with the others')
#   portable   - HEADSHOT_ISA=portable: what a CPU without AVX2 runs
#   arm64      - the static aarch64 build under qemu-user (NEON kernels), when
#                gcc-aarch64-linux-gnu and qemu-user are installed: the test programs
#                (kernels against their references, every golden comparison); the
#                end-to-end scripts, ten times slower under emulation, run natively, and
#                tests/isa_test.sh compares the arm64 build's headshot with the x86-64 ones
# HEADSHOT_TEST_PASSES limits the passes (e.g. "native" for the sanitizer build and make
# check). A pass that cannot run here counts as one skip. Ends with the total
# "N passed, N failed, K skipped" line; exits 1 on any failure.
build=${1:-build}
bin=${2:-./headshot}
passes=${HEADSHOT_TEST_PASSES:-native avx2 portable arm64}
total_p=0; total_f=0; total_k=0; status=0
count() {   # $1: log, $2: label. Adds its closing line to the totals.
  set -- "$1" "$2" $(tail -n 1 "$1" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p')
  [ $# -eq 5 ] || { set -- "$1" "$2" 0 1 0; echo "not ok - $2: the suite did not finish"; }
  total_p=$((total_p + $3)); total_f=$((total_f + $4)); total_k=$((total_k + $5))
}
skip_pass() { echo "# $1"; total_k=$((total_k + 1)); }
for pass in $passes; do
  log="$build/test-$pass.log"
  case $pass in
    native)
      sh tests/run.sh "$build" "$bin" > "$log" 2>&1 || status=1
      sed '$d' "$log" ;;
    avx2)
      if ! env -u HEADSHOT_ISA "$bin" --version 2>/dev/null | grep -q '^kernels: avx512'; then
        skip_pass "avx2 pass skipped: the native pass already runs AVX2 (or this is not x86-64)"; continue
      fi
      HEADSHOT_ISA=avx2 SCRIPTS=no sh tests/run.sh "$build" "$bin" > "$log" 2>&1 || status=1
      grep '^not ok' "$log" | sed 's/^not ok - /not ok - [avx2] /'
      echo "# avx2 kernels: $(tail -n 1 "$log")" ;;
    portable)
      HEADSHOT_ISA=portable sh tests/run.sh "$build" "$bin" > "$log" 2>&1 || status=1
      grep '^not ok' "$log" | sed 's/^not ok - /not ok - [portable] /'
      echo "# portable kernels: $(tail -n 1 "$log")" ;;
    arm64)
      if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
        skip_pass "arm64 pass skipped: install gcc-aarch64-linux-gnu and qemu-user to run it"; continue
      fi
      if ! make -s arm64-tests > "$log" 2>&1; then
        echo "not ok - [arm64] cross build failed"; tail -n 20 "$log"; total_f=$((total_f + 1)); status=1; continue
      fi
      RUN=qemu-aarch64 SCRIPTS=no sh tests/run.sh build-arm64 build-arm64/headshot > "$log" 2>&1 || status=1
      grep '^not ok' "$log" | sed 's/^not ok - /not ok - [arm64] /'
      echo "# arm64 under qemu (NEON kernels): $(tail -n 1 "$log")" ;;
  esac
  count "$log" "$pass"
done
echo "$total_p passed, $total_f failed, $total_k skipped"
[ "$total_f" -eq 0 ] && [ $status -eq 0 ]
