#!/bin/sh
# Runs every test program in BUILD/tests and every tests/*_test.sh script (given the command
# that runs headshot), counts "ok", "not ok" and "# skipped" lines, and ends with
# "N passed, N failed, K skipped". Exit status 1 if anything failed or crashed. RUN, if set,
# prefixes each test program (RUN=qemu-aarch64 for the arm64 build). SCRIPTS=no runs the
# test programs only; SKIP_SCRIPTS="isa_test ..." leaves those scripts out (make check).
build=${1:-build}
bin=${2:-./headshot}
passed=0; failed=0; skipped=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts=tests/*_test.sh; [ "${SCRIPTS:-yes}" = no ] && scripts=
for t in "$build"/tests/test_* $scripts; do
  case "$t" in *.sh) ;; *) [ -x "$t" ] || continue ;; esac   # not the compiler's .d files
  case " $SKIP_SCRIPTS " in *" $(basename "$t" .sh) "*) continue ;; esac
  case "$t" in *.sh) cmd="sh $t $bin" ;; *) cmd="${RUN:+$RUN }$t" ;; esac
  $cmd > "$tmp/out" 2>"$tmp/err"; rc=$?
  cat "$tmp/out"
  p=$(grep -c '^ok - ' "$tmp/out"); f=$(grep -c '^not ok - ' "$tmp/out"); k=$(grep -c '^# skipped' "$tmp/out")
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"; sed 's/^/    /' "$tmp/err" | tail -n 20; f=1
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
