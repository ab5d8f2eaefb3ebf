#!/bin/sh
# versus-ort.sh — headshot's runtime against ONNX Runtime on the same networks, alternated.
#
#   sh bench/versus-ort.sh PEER_BENCH_DIR [ROUNDS] [OUTDIR]
#
# PEER_BENCH_DIR is a copy of ../shared/peer-bench with its models fetched and `npm ci` done
# (see its README). Each round runs ORT at 1 and 2 threads (node bench.mjs), then
# `./headshot bench --networks --json` at 1 and 2 threads, so that both sides see the same
# machine state; the table at the end gives, per network and thread count, the median over the
# rounds of each round's median, and ours / ORT (docs/PERFORMANCE.md, issue 3's 0.8 target).
# Needs node and python3; not part of the build or the tests.
peer=${1:?usage: sh bench/versus-ort.sh PEER_BENCH_DIR [ROUNDS] [OUTDIR]}
rounds=${2:-3}
out=${3:-$(mktemp -d)}
bin=$(pwd)/headshot
models=blazeface,facemesh,face_recognition,esrgan_slim_x4,esrgan_medium_x4
mkdir -p "$out"
r=1
while [ "$r" -le "$rounds" ]; do
  (cd "$peer" && node bench.mjs --models $models --configs ort-t1,ort-t2 --runs 20 --warmup 3 --budget 8 \
     --out "$out/ort-$r.json" >/dev/null 2>&1) || { echo "versus-ort: peer bench failed" >&2; exit 1; }
  for t in 1 2; do "$bin" bench --networks --json --threads $t --runs 20 > "$out/ours-t$t-$r.json" || exit 1; done
  r=$((r + 1))
done
python3 - "$out" <<'PY'
import json, glob, statistics as st, sys
d = sys.argv[1]
ours, ort = {1: {}, 2: {}}, {1: {}, 2: {}}
for f in glob.glob(d + '/ours-t*.json'):
    t = int(f.split('/ours-t')[1][0])
    for n in json.load(open(f))['networks']: ours[t].setdefault(n['name'], []).append(n['median_ms'])
for f in glob.glob(d + '/ort-*.json'):
    for m in json.load(open(f))['results']:
        if m.get('median_ms'): ort[int(m['config'][-1])].setdefault(m['model'], []).append(m['median_ms'])
print('%-18s %7s %10s %10s %9s' % ('network', 'threads', 'ours ms', 'ORT ms', 'ours/ORT'))
for t in (1, 2):
    for n in sorted(ort[t]):
        a, b = st.median(ours[t][n]), st.median(ort[t][n])
        print('%-18s %7d %10.3f %10.3f %9.2f' % (n, t, a, b, a / b))
print('(%d rounds; raw JSON in %s)' % (len(next(iter(ort[1].values()))), d))
PY
