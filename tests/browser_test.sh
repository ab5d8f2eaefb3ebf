#!/bin/sh
# browser_test.sh — the page of `headshot serve` in a real browser (issue 21): headless
# Chromium driven by tests/browser/page-test.js (puppeteer-core, a test tool only) gives it a
# file that is not a photo (an error in words), then tests/data/d01.jpg: the headshot, the six
# looks, a look chosen and downloaded; the download must be a 1024x1024 JPEG with a face of
# headshot size, and the page must have asked nothing of any other address.
# Chromium and Node come from .ci/run (apt) and puppeteer-core from `npm ci` in tests/browser
# (run here when missing). Where they cannot be installed the test says "# skipped".
# SCREENSHOT=FILE.jpg also keeps the page's screenshot there (the README's docs/img/serve.jpg).
# Usage: sh tests/browser_test.sh ./headshot
bin=${1:-./headshot}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
expect() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }

chromium=$(command -v chromium || command -v chromium-browser)
if [ -z "$chromium" ] || ! command -v node >/dev/null 2>&1; then
  echo "# skipped: browser test: chromium or node is not installed (.ci/run installs them with apt)"; exit 0
fi
if [ ! -d tests/browser/node_modules/puppeteer-core ]; then
  if ! command -v npm >/dev/null 2>&1 || ! (cd tests/browser && npm ci --no-audit --no-fund --ignore-scripts) > "$tmp/npm.log" 2>&1; then
    echo "# skipped: browser test: puppeteer-core could not be installed (npm ci in tests/browser)"; exit 0
  fi
fi

"$bin" serve --port 0 > "$tmp/url" 2> "$tmp/log" & pid=$!
for i in $(seq 100); do [ -s "$tmp/url" ] && break; sleep 0.1; done
url=$(head -n 1 "$tmp/url")
CHROMIUM=$chromium node tests/browser/page-test.js "$url" tests/data/d01.jpg README.md "$tmp" > "$tmp/seen" 2> "$tmp/err"; rc=$?
expect $rc "browser: Chromium ran the page ($($chromium --version 2>/dev/null | head -n 1))$( [ $rc -ne 0 ] && printf ': %s' "$(tail -n 1 "$tmp/err")")"
[ $rc -eq 0 ] || exit 1
seen=$(cat "$tmp/seen")

n=$(echo "$seen" | grep -o '"requests":\[[^]]*\]' | grep -o '"[a-z]*:' | grep -c .)
expect $(echo "$seen" | grep -q '"foreign":\[\]'; echo $?) "browser: all $n requests of the page went to its server (or were data:/blob: URLs it made)"
err=$(echo "$seen" | sed -n 's/.*"error_text":"\([^"]*\)".*/\1/p')
expect $(echo "$err" | grep -q 'use a JPEG or PNG'; echo $?) "browser: a text file as the photo: the page says '$err'"
summary=$(echo "$seen" | sed -n 's/.*"summary":"\([^"]*\)".*/\1/p' | cut -c1-110)
expect $(echo "$summary" | grep -q '^It is clearly still you (identity distance 0\.[0-3]'; echo $?) "browser: the headshot's report in words: $summary"

file=$tmp/download/$(echo "$seen" | sed -n 's/.*"download_name":"\([^"]*\)".*/\1/p')
magic=$(head -c 3 "$file" 2>/dev/null | od -An -tx1 | tr -d ' \n')
"$bin" detect --json "$file" > "$tmp/det.json" 2>/dev/null
# The face box of the download: a headshot's face spans about a third of the frame's width.
facew=$(sed -n 's/^{"width":1024,"height":1024,"faces":\[{"score":[0-9.]*,"box":{"x":[0-9.]*,"y":[0-9.]*,"width":\([0-9.]*\).*/\1/p' "$tmp/det.json")
expect $([ "$magic" = ffd8ff ] && awk -v w="$facew" 'BEGIN { exit !(w != "" && w > 250 && w < 700) }'; echo $?) \
  "browser: downloaded $(basename "$file"): JPEG ($magic), 1024x1024, face ${facew:-none} px wide (want 250-700)"
tabs=$(echo "$seen" | sed -n 's/.*"tab_order":"\([^"]*\)".*/\1/p')
expect $([ "$tabs" = "file preset background light retouch enhance label" ]; echo $?) "browser: Tab from the top visits: $tabs"
over=$(echo "$seen" | sed -n 's/.*"narrow_overflow":\(-*[0-9]*\).*/\1/p')
expect $([ -n "$over" ] && [ "$over" -le 0 ]; echo $?) "browser: in a 380 px wide window nothing sticks out sideways (overflow ${over:-?} px)"
expect $([ -s "$tmp/page.jpg" ]; echo $?) "browser: screenshot of the page with the six looks ($(wc -c < "$tmp/page.jpg" 2>/dev/null || echo 0) bytes)"
[ -n "$SCREENSHOT" ] && cp "$tmp/page.jpg" "$SCREENSHOT"
kill $pid; wait $pid; pid=""
