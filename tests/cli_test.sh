#!/bin/sh
# cli_test.sh — the headshot command line end to end: exit codes, one-line errors, safe output.
# Usage: sh tests/cli_test.sh ./headshot   (from the repository root; prints ok / not ok lines)
bin=${1:-./headshot}
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
cp samples/hopper.jpg "$tmp/in.jpg"

# run ARGS...: runs the binary, keeping stdout, stderr and the exit status ($rc).
run() { "$bin" "$@" >"$tmp/stdout" 2>"$tmp/stderr"; rc=$?; }
lines() { wc -l <"$1" | tr -d ' '; }
hex() { od -An -tx1 -j "${2:-0}" -N "$3" "$1" | tr -d ' \n'; }
temps() { n=0; for f in "$1"/.*.tmp "$1"/*.tmp; do [ -e "$f" ] && n=$((n + 1)); done; echo "$n"; }
say() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi; }

# expect WHAT RC [STDERR_LINES]: the last run ended with RC and that many lines on stderr.
expect() {
  n=$(lines "$tmp/stderr")
  if [ "$rc" -eq "$2" ] && { [ -z "$3" ] || [ "$n" -eq "$3" ]; }; then
    echo "ok - $1 (exit $rc; stderr: $(head -n 1 "$tmp/stderr"))"
  else
    echo "not ok - $1: exit $rc (want $2), $n stderr lines (want ${3:-any})"
    sed 's/^/    /' "$tmp/stderr"
  fi
}

# ------------------------------------------------------------------ information
run --help
grep -q '^Usage: headshot' "$tmp/stdout" && grep -q '^Exit status' "$tmp/stdout"
say $? "--help prints usage and exit codes"; expect "--help" 0 0
run --version
kernels=$(sed -n 3p "$tmp/stdout")
# The kernel set in use: the one HEADSHOT_ISA forces (the portable pass), else the best one.
case ${HEADSHOT_ISA:-auto} in auto) want='[a-z0-9]* (the best this CPU runs)' ;; *) want="$HEADSHOT_ISA (" ;; esac
version=$(sed -n 's/^VERSION *:= *//p' Makefile)   # the one place it is written
[ "$(head -n 1 "$tmp/stdout")" = "headshot $version" ] && sed -n 2p "$tmp/stdout" | grep -Eq '^built with .* for (x86_64|aarch64) ' &&
  echo "$kernels" | grep -q "^kernels: $want" && echo "$kernels" | grep -q 'built in: .*portable; this CPU runs: .*portable$'
say $? "--version prints 'headshot $version' (the Makefile's VERSION), a build line and the kernels: $kernels"; expect "--version" 0 0

run bench --networks --json --runs 1 --threads 1
n=0
for net in blazeface facemesh selfie face_recognition esrgan_slim_x4 esrgan_medium_x4; do
  grep -q "{\"name\":\"$net\",\"input\":\[[0-9]*,[0-9]*,3\],\"macs\":[1-9][0-9]*,\"median_ms\":[0-9.]*" "$tmp/stdout" && n=$((n + 1))
done
grep -q '^{"threads":1,' "$tmp/stdout" && [ "$(lines "$tmp/stdout")" -eq 1 ] && [ "$n" -eq 6 ]
say $? "bench --networks --json: one JSON line with threads, and input, macs, median_ms for the 6 peer-bench networks ($n)"
expect "bench --networks --json" 0 0

# A face that fills the photo: a crop of the photo with its own background, said in the
# success line, a warning and the report.
run tests/data/d01-tight.jpg -o "$tmp/tight.jpg" --enhance off --report "$tmp/tight.json"
grep -q "wrote .*, the photo's own background, identity distance" "$tmp/stderr" &&
  grep -q 'warning: the face fills the photo' "$tmp/stderr" && grep -q 'crop=photo' "$tmp/tight.json"
say $? "a face that fills the photo (d01-tight.jpg): the success line says \"the photo's own background\", with a warning and crop=photo in the report"
expect "d01-tight.jpg" 0

# ------------------------------------------------------------------ usage errors (2)
run --frobnicate "$tmp/in.jpg" -o "$tmp/x.jpg";       expect "unknown option" 2 1
run frobnicate;                                        expect "unknown command 'frobnicate'" 2 1
run "$tmp/in.jpg";                                     expect "no -o" 2 1
run "$tmp/in.jpg" -o "$tmp/x.gif";                     expect "output extension .gif" 2 1
run "$tmp/in.jpg" -o "$tmp/x.jpg" --quality 0;         expect "--quality 0" 2 1
run "$tmp/in.jpg" -o "$tmp/x.jpg" --quality=abc;       expect "--quality=abc" 2 1
run "$tmp/in.jpg" -o "$tmp/x.png" --format jpeg;       expect "--format contradicting the name" 2 1
run "$tmp/in.jpg" -o "$tmp/x.jpg" --white-balance on;  expect "--white-balance on (auto or off)" 2 1
mkdir "$tmp/opts"
run "$tmp/in.jpg" -o "$tmp/opts/x.jpg" -q --json --white-balance off --keep-others --label
expect "--white-balance off --keep-others --label (flags and values through job_option)" 0 0
grep -q 'white_balance=off' "$tmp/stdout" && grep -q 'people=all' "$tmp/stdout"
say $? "--white-balance off and --keep-others reach the pipeline (the report's steps say white_balance=off, people=all)"
rm -r "$tmp/opts"
run "$tmp/in.jpg" "$tmp/in.jpg" -o "$tmp/x.jpg";       expect "two inputs" 2 1
[ ! -e "$tmp/x.jpg" ] && [ ! -e "$tmp/x.png" ]; say $? "usage errors write nothing"

# ------------------------------------------------------------------ input errors (3, 4, 5)
run "$tmp/missing.jpg" -o "$tmp/x.jpg";                expect "missing input" 3 1
grep -q "missing.jpg" "$tmp/stderr"; say $? "the error names the missing file"
printf 'hello, this is not a photo\n' >"$tmp/text.jpg"
run "$tmp/text.jpg" -o "$tmp/x.jpg";                   expect "text file named .jpg" 4 1
printf 'RIFF\044\000\000\000WEBPVP8 ' >"$tmp/photo.jpg"
run "$tmp/photo.jpg" -o "$tmp/x.jpg";                  expect "WebP named .jpg" 4 1
grep -q "unsupported format: WebP" "$tmp/stderr"; say $? "WebP is named in the error"
run "$tmp/in.jpg" -o "$tmp/x.jpg" --max-pixels 262143; expect "512x512 input over --max-pixels 262143" 5 1

# ------------------------------------------------------------------ never over the input
sum=$(cksum <"$tmp/in.jpg")
run "$tmp/in.jpg" -o "$tmp/in.jpg";                    expect "output = input refused" 2 1
ln -s in.jpg "$tmp/link.jpg"
run "$tmp/in.jpg" -o "$tmp/link.jpg";                  expect "output = symlink to the input refused" 2 1
ln "$tmp/in.jpg" "$tmp/hard.jpg"
run "$tmp/hard.jpg" -o "$tmp/in.jpg";                  expect "output = hard link of the input refused" 2 1
[ "$(cksum <"$tmp/in.jpg")" = "$sum" ]; say $? "input unchanged after the refusals"
rm -f "$tmp/link.jpg" "$tmp/hard.jpg"

# ------------------------------------------------------------------ atomic output
printf 'previous result\n' >"$tmp/out.jpg"
old=$(cksum <"$tmp/out.jpg")
run "$tmp/text.jpg" -o "$tmp/out.jpg";                 expect "failed run" 4 1
[ "$(cksum <"$tmp/out.jpg")" = "$old" ] && [ "$(temps "$tmp")" -eq 0 ]
say $? "a failed run leaves the old output byte-identical and no temporary file"
run "$tmp/in.jpg" -o "$tmp/out.jpg";                   expect "successful run" 0
[ "$(hex "$tmp/out.jpg" 0 3)" = "ffd8ff" ] && [ "$(cksum <"$tmp/out.jpg")" != "$old" ] && [ "$(temps "$tmp")" -eq 0 ]
say $? "a successful run replaces the output with a JPEG, no temporary file left"
[ "$(cksum <"$tmp/in.jpg")" = "$sum" ]; say $? "input unchanged after the runs (cksum)"
run -q "$tmp/in.jpg" -o "$tmp/OUT.PNG";                expect "-q is silent" 0 0
[ "$(hex "$tmp/OUT.PNG" 0 4)" = "89504e47" ]; say $? ".PNG (upper case) gives a PNG"
mkdir "$tmp/dir.jpg"
run "$tmp/in.jpg" -o "$tmp/dir.jpg";                   expect "output is a directory" 8 1
run "$tmp/in.jpg" -o "$tmp/nodir/x.jpg";               expect "output in a missing directory" 8 1

# ------------------------------------------------------------------ standard output
"$bin" "$tmp/in.jpg" -o - >"$tmp/stdout.jpg" 2>"$tmp/stderr"; rc=$?
expect "-o - to a file" 0
[ "$(hex "$tmp/stdout.jpg" 0 3)" = "ffd8ff" ] && [ "$(tail -c 2 "$tmp/stdout.jpg" | od -An -tx1 | tr -d ' \n')" = "ffd9" ]
say $? "-o - writes a whole JPEG (FF D8 ... FF D9, $(wc -c <"$tmp/stdout.jpg" | tr -d ' ') bytes)"
"$bin" -q "$tmp/in.jpg" -o - --format png | "$bin" -q /dev/stdin -o "$tmp/piped.jpg" 2>"$tmp/stderr"; rc=$?
expect "PNG through a pipe decodes" 0

# ------------------------------------------------------------------ no face (6)
run tests/data/wide-2000x10.png -o "$tmp/wide.png";    expect "2000x10 grey ramp" 6 1
[ ! -e "$tmp/wide.png" ] && [ "$(temps "$tmp")" -eq 0 ]; say $? "no output and no temporary file after 'no face'"
exit 0
