#!/bin/sh
# serve_test.sh — `headshot serve` from outside (issue 21): the API over HTTP (curl) and every
# security rule: the token, the Host header, no CORS, bodies over 50 MB, not an image, path
# traversal, concurrent requests, the bounded queue, clients that stall; nothing in the log,
# and strace: serve binds, listens and accepts on 127.0.0.1, never connects, writes no file.
# Raw requests (a lying Content-Length, a stall) go through perl's IO::Socket (perl-base).
# Usage: sh tests/serve_test.sh ./headshot
bin=${1:-./headshot}
tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }
skip() { echo "# skipped: $*"; }
expect() { if [ "$1" -eq 0 ]; then ok "$2"; else notok "$2"; fi; }
now() { date +%s%N | cut -c1-13; }   # milliseconds

if ! command -v curl >/dev/null 2>&1; then notok "serve: curl is not installed (.ci/run installs it)"; exit 1; fi

# start NAME ARGS...: a server; sets port, token, base (http://127.0.0.1:PORT) and NAME.pid.
start() {
  name=$1; shift
  "$@" > "$tmp/$name.out" 2> "$tmp/$name.log" &
  echo $! > "$tmp/$name.pid"; pids="$pids $!"
  for i in $(seq 100); do [ -s "$tmp/$name.out" ] && break; sleep 0.1; done
  url=$(head -n 1 "$tmp/$name.out")
  port=$(echo "$url" | sed -n 's|^http://127\.0\.0\.1:\([0-9]*\)/?token=[0-9a-f]*$|\1|p')
  token=${url##*token=}
  base=http://127.0.0.1:$port
}
# code ARGS...: curl's HTTP status (headers in $tmp/h, body in $tmp/b).
code() { curl -s -o "$tmp/b" -D "$tmp/h" -w '%{http_code}' "$@"; }
# raw REQUEST: sends REQUEST (\r\n written as such) on a new connection and reads the answer
# until the server closes; prints its status ("none" if it sent none) and the seconds taken.
raw() {
  t0=$(now)
  s=$(perl -MIO::Socket::INET -e '
    my ($port, $req, $sent) = @ARGV; $req =~ s/\\r\\n/\r\n/g;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port) or die "connect: $!";
    $s->autoflush(1); print $s $req;
    if ($sent) { open(my $f, ">", $sent); close $f; }   # tells the test it is in
    local $/; my $a = <$s>;
    print defined $a && $a =~ m{^HTTP/1\.1 (\d+)} ? $1 : "none";' "$port" "$1" "${2:-}")
  d=$(( ($(now) - t0) / 100 ))
  echo "$s $((d / 10)).$((d % 10))"
}

# ------------------------------------------------------------------ start ---
start main "$bin" serve --port 0 --timeout 2 --queue 2
expect $([ -n "$port" ] && [ ${#token} -eq 32 ]; echo $?) "serve: first line is the address with a 32-digit token: $(echo "$url" | sed 's/token=.*/token=.../')"
[ -n "$port" ] || { sed 's/^/    /' "$tmp/main.log"; exit 1; }
# /proc/net/tcp: the listening socket (state 0A) of that port is on 127.0.0.1 (0100007F) only.
hexport=$(printf '%04X' "$port")
listen=$(awk -v p=":$hexport" '$4 == "0A" && substr($2, 9) == p { print $2 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | tr '\n' ' ')
expect $([ "$listen" = "0100007F:$hexport " ]; echo $?) "serve: listens on 127.0.0.1 only (/proc/net/tcp: ${listen:-none})"

# ------------------------------------------------------------------ the page ---
c=$(code "$base/?token=$token")
expect $([ "$c" = 200 ] && grep -q '<input id="file" type="file"' "$tmp/b" && grep -qi "^Content-Security-Policy: default-src 'none'" "$tmp/h" &&
         ! grep -q -e 'src="http' -e 'href="http' -e '@import' -e 'url(http' "$tmp/b"; echo $?) \
  "serve: GET / is the page ($(wc -c < "$tmp/b") bytes, no external src/href, CSP default-src 'none'): $c"

# ------------------------------------------------------------------ the token ---
c1=$(code "$base/"); c2=$(code "$base/?token=0123456789abcdef0123456789abcdef")
c3=$(code "$base/?token=${token}0"); c4=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot")
c5=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=")
expect $([ "$c1$c2$c3$c4$c5" = 403403403403403 ] && grep -q '"error": "missing or wrong token' "$tmp/b"; echo $?) \
  "serve: no token, wrong token, token+1 digit, API without token, empty token: $c1 $c2 $c3 $c4 $c5 (want 403 each, JSON error)"

# ------------------------------------------------------------------ the Host header (DNS rebinding) ---
c1=$(code -H "Host: evil.example:$port" "$base/?token=$token"); c2=$(code -H "Host: 127.0.0.1:$((port + 1))" "$base/?token=$token")
c3=$(code -H "Host: 127.0.0.1" "$base/?token=$token"); c4=$(code -H "Host:" "$base/?token=$token")
c5=$(code -H "Host: localhost:$port" "$base/?token=$token")
expect $([ "$c1$c2$c3$c4" = 403403403403 ] && [ "$c5" = 200 ]; echo $?) \
  "serve: Host evil.example:PORT, 127.0.0.1:PORT+1, no port, none: $c1 $c2 $c3 $c4 (want 403); localhost:PORT: $c5 (want 200)"

# ------------------------------------------------------------------ no CORS ---
c1=$(code -H "Origin: http://evil.example" "$base/?token=$token"); cors=$(grep -ci '^access-control-' "$tmp/h")
c2=$(code -X OPTIONS -H "Origin: http://evil.example" -H "Access-Control-Request-Method: POST" "$base/api/headshot?token=$token")
cors=$((cors + $(grep -ci '^access-control-' "$tmp/h")))
c3=$(code -H "Origin: http://evil.example" --data-binary @README.md "$base/api/headshot?token=$token")
cors=$((cors + $(grep -ci '^access-control-' "$tmp/h")))
expect $([ "$cors" -eq 0 ] && [ "$c2" = 405 ]; echo $?) \
  "serve: no Access-Control-* header on GET, OPTIONS preflight ($c2, want 405) or POST from a foreign Origin ($cors headers)"

# ------------------------------------------------------------------ path traversal ---
bad=""
for p in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /api/../../../etc/passwd //etc/passwd /index.html /web/index.html /api/headshot/../../etc/passwd; do
  c=$(code --path-as-is "$base$p?token=$token")
  { [ "$c" = 404 ] && ! grep -q 'root:' "$tmp/b"; } || bad="$bad $p:$c"
done
expect $([ -z "$bad" ]; echo $?) "serve: ../ paths, %2e%2e, //etc/passwd, file names: 404 each, no file content${bad:+; wrong:$bad}"

# ------------------------------------------------------------------ malformed requests ---
long=$(head -c 17000 /dev/zero | tr '\0' a)
got=""
for req in "GARBAGE\r\n\r\n" "GET /?token=$token HTTP/1.1\r\nHost 127.0.0.1:$port\r\n\r\n" \
           "POST /api/headshot?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345" \
           "POST /api/headshot?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nContent-Length: -5\r\n\r\n" \
           "POST /api/headshot?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n" \
           "GET /?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nX-Long: $long\r\n\r\n"; do
  r=$(raw "$req"); got="$got ${r% *}"
done
c=$(code "$base/?token=$token")
expect $([ "$got" = " 400 400 400 400 411 431" ] && [ "$c" = 200 ]; echo $?) \
  "serve: no request line, header without colon, two Content-Lengths, negative length, chunked, 17 KB header:$got (want 400 400 400 400 411 431); still serving: $c"

# ------------------------------------------------------------------ oversize bodies: refused from Content-Length ---
r=$(raw "POST /api/headshot?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nContent-Length: 52428801\r\n\r\n")
expect $([ "${r% *}" = 413 ]; echo $?) "serve: Content-Length 50 MB + 1 with no body sent: ${r% *} after ${r#* } s (want 413 at once)"
c=$(head -c 52428801 /dev/zero | code --data-binary @- "$base/api/headshot?token=$token")
expect $([ "$c" = 413 ] && grep -q '"error": "the photo is larger than 50 MB"' "$tmp/b"; echo $?) "serve: a 50 MB + 1 byte upload with curl: $c (want 413, JSON error)"

# ------------------------------------------------------------------ bad photos and options: the CLI's reasons ---
head -c 4000 tests/data/d01.jpg > "$tmp/cut.jpg"
c1=$(code --data-binary @README.md "$base/api/headshot?token=$token"); e1=$(cat "$tmp/b")
c2=$(code --data-binary @"$tmp/cut.jpg" "$base/api/headshot?token=$token")
c3=$(code -H "Content-Type: image/jpeg" --data-binary "" "$base/api/headshot?token=$token")
expect $([ "$c1$c2$c3" = 415415400 ] && echo "$e1" | grep -q '"error": "not an image'; echo $?) \
  "serve: text body, truncated JPEG, empty body: $c1 $c2 $c3 (want 415 415 400): $e1"
c=$(code --data-binary @tests/data/d10.jpg "$base/api/headshot?token=$token&enhance=off")
why=$("$bin" tests/data/d10.jpg -o "$tmp/dogs.jpg" 2>&1 | tail -n 1 | sed 's/^headshot: [^:]*: //')
expect $([ "$c" = 422 ] && grep -qF "{\"error\": \"$why\"}" "$tmp/b"; echo $?) "serve: no face (dogs): $c (want 422) with the CLI's reason '$why'"
c1=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&preset=nope")
why=$("$bin" tests/data/d01.jpg -o "$tmp/x.jpg" --preset nope 2>&1 | sed 's/^headshot: //; s/ (see .*//')
e1=$(cat "$tmp/b")
c2=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&background=image:/etc/passwd")
c3=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&outputdir=/tmp")
c4=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&background=transparent&format=jpeg")
c5=$(code --data-binary @tests/data/d01.jpg "$base/api/variants?token=$token&background=white")
expect $([ "$c1$c2$c3$c4$c5" = 400400400400400 ] && [ "$e1" = "{\"error\": \"$why\"}" ]; echo $?) \
  "serve: bad preset (the CLI's '$why'), background=image:FILE, unknown option, transparent JPEG, variants with a background: $c1 $c2 $c3 $c4 $c5 (want 400)"

# ------------------------------------------------------------------ a headshot: the CLI's bytes ---
c=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&enhance=off&background=studio-blue")
"$bin" tests/data/d01.jpg -o "$tmp/cli.jpg" --enhance off --background studio-blue 2>/dev/null
sha=$(sha256sum tests/data/d01.jpg | cut -d' ' -f1)
expect $([ "$c" = 200 ] && grep -qi '^Content-Type: image/jpeg' "$tmp/h" && cmp -s "$tmp/b" "$tmp/cli.jpg" && grep -aq "$sha" "$tmp/b"; echo $?) \
  "serve: POST d01 enhance=off background=studio-blue: $c, $(wc -c < "$tmp/b") bytes of JPEG, byte for byte the CLI's output, XMP with the input's SHA-256"
c=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&enhance=off&background=transparent&preset=portrait")
magic=$(head -c 8 "$tmp/b" | od -An -tx1 | tr -d ' \n')
"$bin" detect --json "$tmp/b" > "$tmp/det.json" 2>/dev/null
expect $([ "$c" = 200 ] && [ "$magic" = 89504e470d0a1a0a ] && grep -q '^{"width":1600,"height":2000,"faces":\[{' "$tmp/det.json"; echo $?) \
  "serve: background=transparent preset=portrait: $c, a PNG ($magic) of 1600x2000 with a face (headshot detect)"
c=$(code -H "Accept: application/json" --data-binary @tests/data/d01.jpg "$base/api/variants?token=$token&enhance=off&label")
n=$(grep -o '"image": "data:image/jpeg;base64,/9j/' "$tmp/b" | wc -l)
names=$(grep -o '"name": "[a-z-]*", "type"' "$tmp/b" | cut -d'"' -f4 | tr '\n' ' ')
expect $([ "$c" = 200 ] && [ "$n" -eq 6 ] && [ "$names" = "studio studio-blue studio-warm white blur light-off " ] && grep -q '"verdict": "same person"' "$tmp/b"; echo $?) \
  "serve: /api/variants: $c, $n JPEG data URLs: $names"

# ------------------------------------------------------------------ concurrent requests ---
bg=""
for k in 1 2 3; do
  f=tests/data/d01.jpg; [ $k = 2 ] && f=tests/data/d05.jpg
  curl -s -o "$tmp/par$k" -w '%{http_code}' --data-binary @$f "$base/api/headshot?token=$token&enhance=off" > "$tmp/par$k.code" &
  bg="$bg $!"
done
wait $bg
good=0
for k in 1 2 3; do
  [ "$(cat "$tmp/par$k.code")" = 200 ] && "$bin" detect "$tmp/par$k" > /dev/null 2>&1 && good=$((good + 1))
done
expect $([ $good -eq 3 ] && cmp -s "$tmp/par1" "$tmp/par3" && ! cmp -s "$tmp/par1" "$tmp/par2"; echo $?) \
  "serve: 3 photos at once (queue 2): $good of 3 answered 200 with a face; the two d01 answers equal, d05's its own"

# ------------------------------------------------------------------ stalls and the bounded queue ---
# Three uploads that stop after 10 bytes of their body hold the running place and the 2 of
# the queue: a fourth gets 503 at once. Each stalled one is dropped with 408 after --timeout 2.
bg=""
for k in 1 2 3; do
  raw "POST /api/headshot?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nContent-Length: 87692\r\n\r\n0123456789" "$tmp/stall$k.sent" > "$tmp/stall$k" &
  bg="$bg $!"
done
# All three have sent their headers (a loaded machine may take a while to start perl), then
# a moment for the server to admit them; the 2 s timeout runs from their last byte.
for i in $(seq 100); do [ -e "$tmp/stall1.sent" ] && [ -e "$tmp/stall2.sent" ] && [ -e "$tmp/stall3.sent" ] && break; sleep 0.05; done
sleep 0.3
t0=$(now); c=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token&enhance=off"); t=$(( $(now) - t0 ))
wait $bg
st=$(cat "$tmp/stall1" "$tmp/stall2" "$tmp/stall3" | tr '\n' ' ')
expect $([ "$c" = 503 ] && grep -qi '^Retry-After:' "$tmp/h" && [ $t -lt 1500 ]; echo $?) "serve: a 4th upload while 3 are admitted (queue 2): $c in $t ms (want 503 at once)"
expect $(echo "$st" | awk '{ for (i = 1; i <= NF; i += 2) if ($i != 408 || $(i+1) < 1.5 || $(i+1) > 4) exit 1 }'; echo $?) \
  "serve: uploads stalled mid-body are dropped after --timeout 2: status, seconds: $st (want 408 after 2-4 s)"
raw "GET /?token=$token HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n" > "$tmp/slow1" &   # headers never finished
bg=$!
raw "" > "$tmp/slow2" &                                                            # connects, says nothing
bg="$bg $!"
sleep 0.3
t0=$(now); c=$(code "$base/?token=$token"); t=$(( $(now) - t0 ))
wait $bg
st="$(cat "$tmp/slow1") $(cat "$tmp/slow2")"
expect $(echo "$st" | awk '{ exit !($1 == 408 && $2 >= 1.5 && $2 <= 4 && $3 == 408 && $4 >= 1.5 && $4 <= 4) }' && [ "$c" = 200 ] && [ $t -lt 1500 ]; echo $?) \
  "serve: unfinished headers and a silent connection: $st (want 408 after 2-4 s each); meanwhile the page answered $c in $t ms"

# ------------------------------------------------------------------ the log ---
lines=$(wc -l < "$tmp/main.log"); other=$(grep -v -c '^headshot serve: ' "$tmp/main.log")
expect $([ "$lines" -ge 20 ] && [ "$other" -eq 0 ] && ! grep -q "$token" "$tmp/main.log" && ! grep -aq 'JFIF' "$tmp/main.log"; echo $?) \
  "serve: the log: $lines lines, one per request ('headshot serve: METHOD PATH STATUS ...'), no token, no body bytes"
kill -TERM "$(cat "$tmp/main.pid")"; wait "$(cat "$tmp/main.pid")"; rc=$?
expect $([ $rc -eq 0 ] && tail -n 1 "$tmp/main.log" | grep -q '^headshot serve: stopped$'; echo $?) "serve: SIGTERM stops it: exit $rc"

# ------------------------------------------------------------------ strace: loopback only, never connects, no file written ---
if command -v strace >/dev/null 2>&1 && strace -f -qq -o /dev/null true 2>/dev/null; then
  calls=network,open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,mkdir,mkdirat,mknod,mknodat,unlink,unlinkat,truncate
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" start traced strace -f -qq -e trace=$calls -o "$tmp/strace.log" "$bin" serve --port 0
  c1=$(code "$base/?token=$token"); c2=$(code --data-binary @tests/data/d01.jpg "$base/api/headshot?token=$token")
  child=$(ps -o pid= --ppid "$(cat "$tmp/traced.pid")" | tr -d ' ')   # headshot under strace
  kill -TERM $child; wait "$(cat "$tmp/traced.pid")"
  # Allowed: socket(AF_INET, SOCK_STREAM), bind/listen/getsockname/setsockopt on it, accept4,
  # recvfrom/sendto without an address, shutdown. Anything else (connect, another family, a
  # bind off 127.0.0.1, a send to an address) is named.
  awk '
    /(^|[ ])(socket|socketpair|connect|bind|listen|accept|accept4|sendto|sendmsg|sendmmsg|recvfrom|recvmsg|recvmmsg|getsockopt|setsockopt|getsockname|getpeername|shutdown)\(/ {
      match($0, /[a-z0-9_]+\(/); c = substr($0, RSTART, RLENGTH - 1); n[c]++
      if (c == "socket" && $0 !~ /socket\(AF_INET, SOCK_STREAM/) bad = bad " " c
      else if (c == "bind" && $0 !~ /inet_addr\("127\.0\.0\.1"\)/) bad = bad " bind-off-loopback"
      else if ((c == "sendto" || c == "recvfrom") && $0 !~ /, NULL, (0|NULL)\)/) bad = bad " " c "-with-address"
      else if (c !~ /^(socket|bind|listen|getsockname|setsockopt|accept4|sendto|recvfrom|shutdown)$/) bad = bad " " c
      next }
    /(^|[ ])(open|openat|openat2)\(/ && /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/ { bad = bad " write-open"; next }
    /(^|[ ])(creat|rename|renameat|renameat2|link|linkat|symlink|symlinkat|mkdir|mkdirat|mknod|mknodat|unlink|unlinkat|truncate)\(/ { bad = bad " file-change"; next }
    END { for (c in n) s = s c "=" n[c] " "; print (bad == "" ? "-" : bad) "|" s }' "$tmp/strace.log" > "$tmp/verdict"
  IFS='|' read -r bad seen < "$tmp/verdict"
  expect $([ "$c1$c2" = 200200 ] && [ "$bad" = "-" ] && case " $seen" in *" bind=1 "*) case " $seen" in *" accept4="*) true ;; *) false ;; esac ;; *) false ;; esac; echo $?) \
    "serve: strace -f while serving the page and a headshot ($c1 $c2): network calls $seen; forbidden: $bad"
  grep -q 'connect(' "$tmp/strace.log"; expect $([ $? -ne 0 ]; echo $?) "serve: strace: no connect() at all"
else
  skip "strace not installed or not permitted (tests/setup-deps.sh): serve's network calls not traced"
fi
