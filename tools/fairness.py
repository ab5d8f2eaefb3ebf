#!/usr/bin/env python3
"""fairness.py: the table of docs/FAIRNESS.md, skin tone kept by skin-tone group.

For each photo set it runs ../shared/tools/look-check (the independent viewer check: the
reference FaceMesh on input and output, median CIELAB of both cheeks) unless --reuse finds
its look.tsv already there, and `headshot detect` on every photo with faces for detection
recall (faces confirmed, at most the manifest's count, over the manifest's faces). Then it
prints one Markdown table by the manifests' skin_tone column over all the sets together
(look-check's own summary goes to standard error).

usage: tools/fairness.py --headshot ./headshot --out /tmp/fair \\
           --set ../shared/devset --cache /tmp/lc/cache1 --set ../shared/devset2 --cache /tmp/lc/cache2
  --set DIR     a photo folder with manifest.tsv (repeat); --cache DIR after it: look-check's
                cache of the inputs' oracle results for that set (default OUT/NAME/cache)
  --out DIR     look-check's output goes to OUT/NAME for each set
  --reuse       use OUT/NAME/look.tsv when it exists instead of running look-check again
  --look-check  the tool (default ../shared/tools/look-check beside this checkout)
"""
import argparse, csv, os, re, statistics, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--headshot", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--set", action="append", required=True, dest="sets")
ap.add_argument("--cache", action="append", default=[])
ap.add_argument("--reuse", action="store_true")
ap.add_argument("--look-check", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tools", "look-check"))
a = ap.parse_args()

rows = []          # (tone, dITA or None, dhue or None, faces expected, faces found)
for k, setdir in enumerate(a.sets):
    name = os.path.basename(os.path.normpath(setdir))
    out = os.path.join(a.out, name)
    cache = a.cache[k] if k < len(a.cache) else os.path.join(out, "cache")
    if not (a.reuse and os.path.exists(f"{out}/look.tsv")):
        subprocess.run([a.look_check, "--headshot", a.headshot, "--set", setdir, "--out", out, "--cache", cache], stdout=sys.stderr)
    measured = {}
    for r in csv.reader(open(f"{out}/look.tsv"), delimiter="\t"):
        di = next((float(x.split()[1]) for x in r if x.startswith("dITA ")), None)
        dh = next((float(x.split()[1]) for x in r if x.startswith("dhue ")), None)
        measured[r[0]] = (di, dh)
    for m in csv.DictReader(open(f"{setdir}/manifest.tsv"), delimiter="\t"):
        want = int(m["faces"] or 0)
        if want == 0: continue
        p = subprocess.run([a.headshot, "detect", f"{setdir}/{m['file']}"], capture_output=True, text=True)
        got = re.search(r"(\d+) faces?", p.stdout)
        found = min(int(got.group(1)) if got else 0, want)
        di, dh = measured.get(m["file"].rsplit(".", 1)[0], (None, None))
        rows.append((m.get("skin_tone") or "n/a", di, dh, want, found))

print("| skin tone | photos | single-face measured | mean dITA | worst dITA | worst dhue | detection recall |")
print("|---|---|---|---|---|---|---|")
for tone in sorted({r[0] for r in rows}):
    g = [r for r in rows if r[0] == tone]
    di = [r[1] for r in g if r[1] is not None]
    dh = [r[2] for r in g if r[2] is not None]
    mean = f"{statistics.mean(di):+.1f}" if di else "-"
    worst = f"{max(di, key=abs):+.1f}" if di else "-"
    wh = f"{max(dh, key=abs):+.1f}" if dh else "-"
    want, found = sum(r[3] for r in g), sum(r[4] for r in g)
    print(f"| {tone} | {len(g)} | {len(di)} | {mean} | {worst} | {wh} | {found}/{want} ({100 * found / want:.0f}%) |")
