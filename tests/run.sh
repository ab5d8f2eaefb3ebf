#!/bin/sh
# Runs every test program in BUILD/tests and every tests/*_test.sh script (given the command
# that runs headshot), counts "ok", "not ok" and "# skipped" lines, and ends with
# "N passed, N failed, K skipped". Exit status 1 if anything failed or crashed. RUN, if set,
# prefixes each test program (RUN=qemu-aarch64 for the arm64 build). SCRIPTS=no runs the
# test programs only; SKIP_SCRIPTS="isa_test ..." leaves those scripts out (make check).
# JOBS (default: the cores) tests run at once.
build=${1:-build}
bin=${2:-./headshot}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}   # tests at once (JOBS=1: one after another)
passed=0; failed=0; skipped=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
scripts="tests/pipeline_test.sh tests/*_test.sh"; [ "${SCRIPTS:-yes}" = no ] && scripts=
n=0
# Started in parallel, longest first (the pipeline's tests), JOBS at a time; each one's output
# is kept and printed in the list's order once all have finished.
for t in "$build"/tests/test_pipeline "$build"/tests/test_* $scripts; do
  case "$t" in *.sh) ;; *) [ -x "$t" ] || continue ;; esac   # not the compiler's .d files
  case " $SKIP_SCRIPTS " in *" $(basename "$t" .sh) "*) continue ;; esac
  case " $started " in *" $t "*) continue ;; esac            # listed twice: the first ones
  started="$started $t "
  while [ $((n - $(ls "$tmp" | grep -c '\.rc$'))) -ge "$jobs" ]; do sleep 0.1; done
  n=$((n + 1))
  case "$t" in *.sh) cmd="sh $t $bin" ;; *) cmd="${RUN:+$RUN }$t" ;; esac
  echo "$t" > "$tmp/$n.name"
  ( $cmd > "$tmp/$n.out" 2>"$tmp/$n.err"; echo $? > "$tmp/$n.tmp"; mv "$tmp/$n.tmp" "$tmp/$n.rc" ) &
done
wait
for i in $(seq "$n"); do
  t=$(cat "$tmp/$i.name"); rc=$(cat "$tmp/$i.rc")
  cat "$tmp/$i.out"
  p=$(grep -c '^ok - ' "$tmp/$i.out"); f=$(grep -c '^not ok - ' "$tmp/$i.out"); k=$(grep -c '^# skipped' "$tmp/$i.out")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"; sed 's/^/    /' "$tmp/$i.err" | tail -n 20; f=1
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
