#!/usr/bin/env python3
"""alternate.py - two binaries timed in turn on the same command, so both see the same machine.

    python3 bench/alternate.py ROUNDS BINARY_A BINARY_B ARGS...

Runs `BINARY_A ARGS` and `BINARY_B ARGS` alternately ROUNDS times (after one warm-up each) and
prints each one's median and least wall time and the ratio of the medians. The machine's speed
drifts from minute to minute on a shared VM; measured in turn, the ratio holds where the
absolute times do not (docs/PERFORMANCE.md). Not part of the build or the tests."""
import statistics
import subprocess
import sys
import time

rounds, a, b, args = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
times = {a: [], b: []}
for i in range(rounds + 1):
    for exe in (a, b):
        t0 = time.perf_counter()
        subprocess.run([exe] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i: times[exe].append((time.perf_counter() - t0) * 1e3)
ma, mb = statistics.median(times[a]), statistics.median(times[b])
print(f"A {ma:.1f} ms median, {min(times[a]):.1f} least | B {mb:.1f} ms median, {min(times[b]):.1f} least | B/A {mb / ma:.3f}")
