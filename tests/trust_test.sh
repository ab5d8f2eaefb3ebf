#!/bin/sh
# trust_test.sh — issue 7 seen from outside the binary: the XMP label of an output as exiftool
# reads it, nothing of the input's metadata carried over (GPS, serial number, maker, thumbnail,
# IPTC, XMP, comment), no network calls and no file written besides the output (and the
# requested report), and `headshot compare`. Usage: sh tests/trust_test.sh ./headshot
#
# exiftool and strace come from tests/setup-deps.sh. Without one of them its checks print
# "# skipped: ..." (tests/run.sh counts them). A missing feature is a failure, never a skip.
bin=${1:-./headshot}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
skip() { echo "# skipped: $*"; }
# expect CONDITION-STATUS MESSAGE: ok when the status is 0.
expect() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

NEURAL=http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia
CLASSICAL=http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced

have_exiftool=0; command -v exiftool >/dev/null 2>&1 && have_exiftool=1
have_strace=0; command -v strace >/dev/null 2>&1 && strace -f -qq -o /dev/null true 2>/dev/null && have_strace=1

# ------------------------------------------------------------------ the input: d01 + metadata ---
in=$tmp/in.jpg
cp tests/data/d01.jpg "$in"
if [ $have_exiftool = 1 ]; then
  exiftool -q -overwrite_original -GPSLatitude=48.8584 -GPSLatitudeRef=N -GPSLongitude=2.2945 \
    -GPSLongitudeRef=E -SerialNumber=SN-TRUST-4242 -Make=TrustCam -Model='Trust 1' -Artist='Jane Secret' \
    -IPTC:By-line='Jane Secret' -XMP-dc:Description='secret input note' -Comment='secret comment' \
    '-ThumbnailImage<=tests/data/d02.jpg' "$in"
  n_in=$(exiftool -s -s -s -GPSLatitude -SerialNumber -Make -ThumbnailImage -By-line -Description -Comment "$in" | grep -c .)
  expect $([ "$n_in" -eq 7 ]; echo $?) "trust: input copy of d01 carries GPS, SerialNumber, Make, thumbnail, IPTC, XMP, comment ($n_in of 7 tags, exiftool)"
else
  skip "exiftool not installed (tests/setup-deps.sh): the input gets no GPS/serial/thumbnail; metadata checks skipped"
fi
in_sha=$(sha256sum "$in" | cut -d' ' -f1)

# ------------------------------------------------------------------ one traced run ---
mkdir "$tmp/out"
out=$tmp/out/out.jpg report=$tmp/out/report.json
extra="--report $report"
calls=network,open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mkdir,mkdirat,mknod,mknodat,unlink,unlinkat,truncate
if [ $have_strace = 1 ]; then
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=$calls -o "$tmp/strace.log" $bin "$in" -o "$out" $extra > "$tmp/stdout" 2> "$tmp/stderr"; rc=$?
else
  $bin "$in" -o "$out" $extra > "$tmp/stdout" 2> "$tmp/stderr"; rc=$?
fi
expect $([ $rc -eq 0 ] && [ -s "$out" ]; echo $?) "trust: headshot d01 (with metadata) -o out.jpg: exit $rc, $(wc -c < "$out" 2>/dev/null || echo 0) bytes"
[ $rc -eq 0 ] || sed 's/^/    /' "$tmp/stderr" | tail -n 5

# The directory of the output holds the output (and report) only: no temporary file left.
left=$(ls -A "$tmp/out" | grep -v -x -e out.jpg -e report.json | tr '\n' ' ')
expect $([ -z "$left" ]; echo $?) "trust: output directory holds only out.jpg${extra:+ and report.json}${left:+; also: $left}"

if [ $have_strace = 1 ]; then
  # Every network call is a failure. Every open for writing, rename, unlink, link, mkdir or
  # truncate must be the output's temporary file (DIR/.headshot-PID-K.tmp), the output or the
  # report. The temporary file and its rename must be seen: the trace really covers the write.
  awk -v out="$out" -v rep="$report" -v dir="$tmp/out/" '
    function q(n,   s, i) { s = $0; for (i = 1; i <= n; i++) { if (!match(s, /"[^"]*"/)) return ""; v = substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH) } return v }
    function tmpfile(p) { return index(p, dir ".headshot-") == 1 && p ~ /\.tmp$/ }
    function mine(p) { return p == out || p == rep || tmpfile(p) }
    /(^|[ ])(socket|socketpair|connect|bind|listen|accept|accept4|sendto|sendmsg|sendmmsg|recvfrom|recvmsg|recvmmsg|getsockopt|setsockopt|getsockname|getpeername|shutdown)\(/ { net++; if (!firstnet) firstnet = $0; next }
    /(^|[ ])(open|openat|openat2)\(/ && /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/ { p = q(1); if (tmpfile(p)) temp++; else if (!mine(p)) bad = bad " write:" p; next }
    /(^|[ ])creat\(/ { p = q(1); if (!mine(p)) bad = bad " creat:" p; next }
    /(^|[ ])(rename|renameat|renameat2)\(/ { a = q(1); b = q(2); if (tmpfile(a) && (b == out || b == rep)) ren++; else bad = bad " rename:" a "->" b; next }
    /(^|[ ])(unlink|unlinkat)\(/ { p = q(1); if (!tmpfile(p)) bad = bad " unlink:" p; next }
    /(^|[ ])(link|linkat|symlink|symlinkat|mkdir|mkdirat|mknod|mknodat|truncate)\(/ { bad = bad " " $2; next }
    END { printf "%d %d %d %s\n", net, temp, ren, (bad == "" ? "-" : bad); if (firstnet) print firstnet > "/dev/stderr" }
  ' "$tmp/strace.log" > "$tmp/verdict" 2> "$tmp/firstnet"
  read net temp ren bad < "$tmp/verdict"
  bad=$(echo "$bad" | cut -c1-200)
  expect $([ "$net" -eq 0 ]; echo $?) "trust: strace -f -e trace=network: $net network calls by headshot (want 0)$( [ -s "$tmp/firstnet" ] && printf ': %s' "$(head -c 120 "$tmp/firstnet")")"
  expect $([ "$bad" = "-" ] && [ "$temp" -ge 1 ] && [ "$ren" -ge 1 ]; echo $?) \
    "trust: strace file calls: writes only to the output's temporary file ($temp opened) renamed onto the output${extra:+ or the report} ($ren renames); other: $bad"
else
  skip "strace not installed or not permitted (tests/setup-deps.sh): no network / stray-file trace"
fi

# ------------------------------------------------------------------ privacy: nothing of the input's metadata ---
# Raw bytes first (no tool needed), then exiftool's view of every metadata group.
leaks=$(grep -a -c -e SN-TRUST-4242 -e 'Jane Secret' -e TrustCam -e 'secret input note' -e 'secret comment' "$out")
expect $([ "$leaks" -eq 0 ]; echo $?) "trust: out.jpg bytes contain none of the input's serial, artist, maker, description, comment ($leaks lines match)"
if [ $have_exiftool = 1 ]; then
  meta=$(exiftool -a -G1 -s -EXIF:all -GPS:all -MakerNotes:all -IFD1:all -IPTC:all -Photoshop:all -ICC_Profile:all \
         -XMP-dc:all -XMP-tiff:all -XMP-exif:all -XMP-aux:all -XMP-photoshop:all -File:Comment "$out" | grep -c .)
  expect $([ "$meta" -eq 0 ]; echo $?) "trust: exiftool finds no EXIF, GPS, maker notes, thumbnail (IFD1), IPTC, ICC, input XMP or comment in out.jpg ($meta tags; input had $n_in checked)"
fi

# ------------------------------------------------------------------ the XMP label ---
# check_xmp FILE: DigitalSourceType, CreatorTool, History, InputSHA256, identity, models.
check_xmp() {
  f=$1 name=$(basename "$1")
  if [ $have_exiftool = 0 ]; then skip "exiftool not installed: XMP of $name not read"; return; fi
  dst=$(exiftool -s3 -XMP-iptcExt:DigitalSourceType "$f")
  if [ -z "$dst" ]; then notok "trust: $name has no XMP DigitalSourceType"; return; fi
  params=$(exiftool -s3 -sep '|' -XMP-xmpMM:HistoryParameters "$f")
  want=$CLASSICAL; case $params in *"(neural network)"*) want=$NEURAL ;; esac
  expect $([ "$dst" = "$want" ]; echo $?) "trust: $name DigitalSourceType ${dst##*/} agrees with its History (neural step: $([ "$want" = "$NEURAL" ] && echo yes || echo no))"
  tool=$(exiftool -s3 -XMP-xmp:CreatorTool "$f")
  nhist=$(exiftool -s3 -sep '|' -XMP-xmpMM:HistoryAction "$f" | tr '|' '\n' | grep -c .)
  expect $(case $tool in "headshot "*) [ "$nhist" -ge 1 ] ;; *) false ;; esac; echo $?) \
    "trust: $name CreatorTool '$tool', $nhist History events: $(echo "$params" | cut -c1-100)"
  sha=$(exiftool -s3 -XMP-headshot:InputSHA256 "$f")
  expect $([ "$sha" = "$in_sha" ]; echo $?) "trust: $name InputSHA256 ${sha:-(none)} = sha256sum of the input ${in_sha}"
  dist=$(exiftool -s3 -XMP-headshot:IdentityDistance "$f") verdict=$(exiftool -s3 -XMP-headshot:IdentityVerdict "$f")
  expect $(awk -v d="$dist" 'BEGIN { exit !(d != "" && d + 0 >= 0 && d + 0 < 0.6) }'; echo $?) \
    "trust: $name IdentityDistance ${dist:-(none)} < 0.6, verdict '${verdict}'"
  # Models: "name (version; licence)" each; a neural step needs at least one.
  models=$(exiftool -s3 -sep '\n' -XMP-headshot:Models "$f")
  nmod=$(echo "$models" | grep -c .) nlic=$(echo "$models" | grep -c '; [^;)][^;]*)$')
  expect $([ "$nlic" -eq "$nmod" ] && { [ "$want" = "$CLASSICAL" ] || [ "$nmod" -ge 1 ]; }; echo $?) \
    "trust: $name lists $nmod models, $nlic with a licence: $(echo "$models" | tr '\n' ' ' | cut -c1-120)"
}
check_xmp "$out"

# ------------------------------------------------------------------ PNG output ---
$bin "$in" -o "$tmp/out.png" --json > "$tmp/json" 2> "$tmp/stderr"; rc=$?
expect $([ $rc -eq 0 ] && [ -s "$tmp/out.png" ]; echo $?) "trust: headshot -o out.png: exit $rc"
if [ $have_exiftool = 1 ]; then
  meta=$(exiftool -a -G1 -s -EXIF:all -GPS:all -IFD1:all -XMP-dc:all -PNG:TextualData "$tmp/out.png" | grep -c .)
  expect $([ "$meta" -eq 0 ]; echo $?) "trust: exiftool finds no EXIF, GPS, thumbnail, input XMP or text chunks in out.png ($meta tags)"
fi
check_xmp "$tmp/out.png"

# ------------------------------------------------------------------ report and --json ---
expect $(grep -q "\"sha256\": \"$in_sha\"" "$report" && grep -q '"digital_source_type": "http://cv.iptc.org/' "$report"; echo $?) \
    "trust: --report wrote $(wc -c < "$report" 2>/dev/null || echo 0) bytes of JSON with the input's sha256 and the DigitalSourceType"
expect $(grep -q '"digital_source_type": "http://cv.iptc.org/' "$tmp/json" && grep -q '"steps": \[' "$tmp/json"; echo $?) \
    "trust: --json printed the report on stdout ($(wc -c < "$tmp/json") bytes)"

# ------------------------------------------------------------------ compare ---
# compare_case A B WANT-RC WHAT: runs `headshot compare A B`, checks the exit status and, for
# 0 / 7, the distance against 0.6.
compare_case() {
  $bin compare "$1" "$2" > "$tmp/cmp" 2> "$tmp/cmperr"; rc=$?
  d=$(sed -n 's/^distance \([0-9.]*\):.*/\1/p' "$tmp/cmp")
  case $3 in
    0) good=$(awk -v d="$d" 'BEGIN { exit !(d != "" && d + 0 < 0.6) }'; echo $?) ;;
    7) good=$(awk -v d="$d" 'BEGIN { exit !(d != "" && d + 0 >= 0.6) }'; echo $?) ;;
    *) good=0 ;;
  esac
  expect $([ $rc -eq "$3" ] && [ "$good" -eq 0 ]; echo $?) \
    "trust: compare $(basename "$1") $(basename "$2"): exit $rc (want $3), ${d:+distance $d, }$4$( [ $rc -ne 0 ] && [ $rc -ne 7 ] && printf ': %s' "$(head -n 1 "$tmp/cmperr")")"
}
compare_case tests/data/d01.jpg tests/data/d01-resized.jpg 0 "same person at 512 and 300 px"
compare_case tests/data/d01.jpg tests/data/d02.jpg 0 "same person, 128 px stored sideways (EXIF orientation 6)"
compare_case tests/data/d01.jpg "$out" 0 "the headshot is still the same person"
compare_case tests/data/d01.jpg tests/data/d03.png 7 "different people"
compare_case tests/data/d01.jpg tests/data/d10.jpg 6 "no human face in the dogs photo"
compare_case tests/data/d01.jpg "$tmp/missing.jpg" 3 "missing file"
$bin compare tests/data/d01.jpg tests/data/d03.png --json > "$tmp/cmp.json"; rc=$?
expect $([ $rc -eq 7 ] && grep -q '"same_person": false' "$tmp/cmp.json" && grep -q '"distance": [0-9]' "$tmp/cmp.json"; echo $?) \
  "trust: compare --json d01 d03: exit $rc, $(grep -o '"distance": [0-9.]*' "$tmp/cmp.json"), same_person false"
if [ $have_strace = 1 ]; then
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq -e trace=network -o "$tmp/cmp.strace" $bin compare tests/data/d01.jpg tests/data/d01-resized.jpg > /dev/null 2>&1
  n=$(grep -c -v -e '+++ exited' -e '^$' "$tmp/cmp.strace")
  expect $([ "$n" -eq 0 ]; echo $?) "trust: strace -e trace=network on compare: $n network calls (want 0)"
fi

