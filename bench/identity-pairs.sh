#!/bin/sh
# identity-pairs.sh — the identity distance of every pair of devset photos that show a face,
# with --precision fp32 and int8 (docs/INFERENCE.md, "int8 inference"): prints
# "A B fp32 int8" per pair, then the largest difference and the verdicts that changed side
# of 0.6. Not part of the build or the tests (the devset is not in the repository).
#
#   sh bench/identity-pairs.sh [BIN] [DEVSET_DIR]
bin=${1:-./headshot}
set=${2:-../shared/devset}
photos="d01.jpg d02.jpg d03.png d04.png d05.jpg d06.jpg d07.jpg d08.jpg d11.jpg d12.jpg d13.jpg"
dist() { "$bin" compare "$set/$1" "$set/$2" --precision "$3" --threads 1 --json 2>/dev/null |
         sed -n 's/.*"distance": \([0-9.]*\).*/\1/p'; }
for a in $photos; do
  for b in $photos; do
    [ "$a" \< "$b" ] || continue
    echo "$a $b $(dist "$a" "$b" fp32) $(dist "$a" "$b" int8)"
  done
done | awk '{ print; d = $4 - $3; if (d < 0) d = -d; if (d > m) m = d; f += ($3 < 0.6) != ($4 < 0.6); n++ }
            END { printf "%d pairs: largest |int8 - fp32| %.4f, verdicts changed %d\n", n, m, f }'
