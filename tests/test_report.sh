#!/usr/bin/env bash
# shellcheck disable=SC2016 # the bash -c bodies take their arguments as $1, $@
# The figures and the HTML report of a small real campaign (two lr values
# × three widths, two seeds), checked from the outside: the SVGs parse as
# XML, the EMC figure has one series per summary group with the right
# number of points (its markers counted by colour, as emcctl plot prints
# them), the PNG is a valid PNG of the documented size; the report opens
# in headless Chromium, whose screenshot is not blank and whose DOM has the
# summary table with a row per cell, both figures and the spec; the
# table's trials and compute equal those recomputed from the trials table.
# Speaks TAP.
#
# usage: test_report.sh COORDINATOR WORKER EMCCTL MKIDX
set -euo pipefail

EMCCTL="$3" MKIDX="$4"
work="$(mktemp -d /tmp/emc-report-XXXXXX)"
pids=()
# shellcheck source=tests/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

trap 'reap_and_clean "${KEEP:-}"' EXIT

PY=/usr/bin/python3

# lib.sh's check, with every line of a failure's output a TAP comment
check() { # check DESCRIPTION COMMAND...
  local desc="$1" out
  shift
  if out="$("$@" 2>&1)"; then ok "$desc"; else not_ok "$desc" "${out//$'\n'/$'\n'# }"; fi
}
db="$work/emc.db"

echo "1..13"

# ---- the campaign ---------------------------------------------------------------
"$MKIDX" --out "$work/data" --n 300 --classes 3 --rows 5 --cols 5 --seed 3 --noise 0.8 --gzip
cat >"$work/spec.yaml" <<'YAML'
name: figures
dataset:
  format: idx
  images: data/images.idx.gz
  labels: data/labels.idx.gz
model:
  family: mlp
  widths: [[2], [4], [8]]
  activation: relu
optimizer:
  name: adam
  lr: [0.1, 0.01]
  batch: 32
seeds: [0, 1]
search:
  start: 8
  precision: 0.1
budget:
  max_epochs: 2000
  plateau_epochs: 100
YAML
started=$SECONDS
if (cd "$work" && "$EMCCTL" run spec.yaml --db emc.db --workers 2 >run.log 2>&1); then
  ok "the campaign runs to the end ($((SECONDS - started)) s)"
else
  not_ok "emcctl run failed" "$(tail -20 "$work/run.log")"
fi
"$EMCCTL" summary --db "$db" --format json >"$work/summary.json"

# ---- emcctl plot ------------------------------------------------------------------
if "$EMCCTL" plot --db "$db" --out "$work/fig" --format both >"$work/plot.out" 2>"$work/plot.err"; then
  ok "emcctl plot --format both exits 0"
else
  not_ok "emcctl plot failed" "$(cat "$work/plot.err")"
fi
check "both figures, SVG and PNG, are written and listed" \
  bash -c 'for f in emc fits; do for x in svg png; do
             [[ -s "$1/fig-$f.$x" ]] && grep -qx "wrote $1/fig-$f.$x" "$1/plot.out" || exit 1; done; done' _ "$work"

check "both SVGs parse as XML, with an <svg> root" "$PY" - "$work/fig-emc.svg" "$work/fig-fits.svg" <<'PY'
import sys, xml.etree.ElementTree as ET
for f in sys.argv[1:]:
    root = ET.parse(f).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", (f, root.tag)
PY

# The series emcctl plot printed against the summary's groups, and the
# markers in the SVG against both: a series' points are the paths filled
# with its colour (plot.c's contract).
check "one series per summary group, labelled by its keys, with one point per decided cell" \
  "$PY" - "$work/summary.json" "$work/plot.out" <<'PY'
import json, sys
groups = json.load(open(sys.argv[1]))
series = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.startswith("series\t")]
assert len(groups) == 2 and len(series) == len(groups), (len(groups), series)
for g, s in zip(groups, series):
    label = ", ".join(f"{k}={v}" for k, v in g["group"].items()) or "all cells"
    points = sum(1 for c in g["cells"] if c["emc"] and c["params"])
    assert s[4] == label and int(s[3]) == points == 3, (s, label, points)
PY

check "the EMC figure's markers: as many paths in each series' colour as it has points" \
  "$PY" - "$work/fig-emc.svg" "$work/plot.out" <<'PY'
import re, sys, xml.etree.ElementTree as ET
def fill(el):
    m = re.search(r"fill:\s*rgb\(([\d.]+)%,\s*([\d.]+)%,\s*([\d.]+)%\)", el.get("style", "")) \
        or re.search(r"rgb\(([\d.]+)%,\s*([\d.]+)%,\s*([\d.]+)%\)", el.get("fill", ""))
    return "#%02x%02x%02x" % tuple(round(float(v) * 2.55) for v in m.groups()) if m else None
fills = {}
for el in ET.parse(sys.argv[1]).getroot().iter("{http://www.w3.org/2000/svg}path"):
    f = fill(el)
    fills[f] = fills.get(f, 0) + 1
series = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.startswith("series\t")]
colours = [s[2] for s in series]
assert len(set(colours)) == len(colours), colours
for s in series:
    assert fills.get(s[2], 0) == int(s[3]), (s, fills)
PY

check "the PNG: a valid PNG (chunks and CRCs), 1440 x 960 pixels" "$PY" - "$work/fig-emc.png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, chunks, idat = 8, [], b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], kind
    chunks.append(kind)
    idat += body if kind == b"IDAT" else b""
    pos += 12 + n
w, h = struct.unpack(">II", data[16:24])
assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and (w, h) == (1440, 960), (chunks[:3], w, h)
assert len(zlib.decompress(idat)) > 0
PY

# ---- emcctl report --------------------------------------------------------------------
if "$EMCCTL" report --db "$db" --out "$work/report.html" >"$work/report.out" 2>&1; then
  ok "emcctl report exits 0"
else
  not_ok "emcctl report failed" "$(cat "$work/report.out")"
fi
check "the report is self-contained: no script, no link, every src a data: URI" "$PY" - "$work/report.html" <<'PY'
import re, sys
html = open(sys.argv[1]).read()
assert "<script" not in html and "<link" not in html
srcs = re.findall(r'src="([^"]*)"', html)
assert len(srcs) == 2 and all(s.startswith("data:image/svg+xml;base64,") for s in srcs), [s[:40] for s in srcs]
PY

# Chromium: as root it needs --no-sandbox, and a profile of its own (in
# $work). It runs under a small Python parent that makes itself the child
# subreaper: Chromium's helpers outlive its main process, and where PID 1
# does not reap orphans they would stay as zombies. The parent puts
# Chromium in a session of its own, kills that session's process group
# once Chromium is done (or after 90 s), kills any descendant left, and
# reaps them all.
cat >"$work/browse.py" <<'PY'
import ctypes, os, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "ab") as err:
    p = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err, start_new_session=True)
    try:
        rc = p.wait(timeout=90)
    except subprocess.TimeoutExpired:
        rc = 124
def children():
    me = str(os.getpid())
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1] == me:
                yield int(d)
        except OSError:
            pass
deadline, reaped = time.time() + 10, False
while not reaped and time.time() < deadline:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for c in children():
        try:
            os.kill(c, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        reaped = True
    time.sleep(0.05)
sys.exit(rc if reaped else 125)  # 125: a descendant survived
PY
browse() { # browse OUT ARGS...: headless Chromium on the report
  local out="$1"
  shift
  "$PY" "$work/browse.py" "$out" "$work/chromium.log" chromium --headless --no-sandbox --disable-gpu \
    --user-data-dir="$work/chromium" --window-size=1200,3000 "$@" "file://$work/report.html"
}

started=$SECONDS
browsers=0
browse "$work/shot.out" --screenshot="$work/shot.png" || browsers=$?
check "headless Chromium's screenshot of the report is not blank ($((SECONDS - started)) s)" \
  "$PY" - "$work/shot.png" <<'PY'
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
colours = im.getcolors(1 << 20)
assert im.size == (1200, 3000), im.size
# the page is white, text dark grey, the figures in their series' colours
assert colours is not None and len(colours) > 20, colours and len(colours)
assert sum(n for n, c in colours if c != (255, 255, 255)) > 0.02 * 1200 * 3000
PY

browse "$work/dom.html" --dump-dom || browsers=$?
check "the DOM: the summary table with a row per cell, both figures, the spec, the provenance" \
  "$PY" - "$work/dom.html" "$work/summary.json" "$work/spec.yaml" <<'PY'
import json, sys
from html.parser import HTMLParser
class Page(HTMLParser):
    def __init__(self):
        super().__init__(); self.ids, self.stack, self.rows, self.spec, self.imgs = {}, [], 0, "", {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a: self.ids[a["id"]] = tag
        if tag == "tr" and a.get("class") == "cell" and "summary" in self.stack: self.rows += 1
        if tag == "img": self.imgs[a.get("id")] = [s for s in self.stack if s] + [a.get("src", "")[:26]]
        if tag not in ("img", "meta", "br"): self.stack.append(a.get("id"))
    def handle_endtag(self, tag):
        if tag not in ("img", "meta", "br") and self.stack: self.stack.pop()
    def handle_data(self, d):
        if "spec" in self.stack: self.spec += d
p = Page(); p.feed(open(sys.argv[1]).read())
cells = sum(len(g["cells"]) for g in json.load(open(sys.argv[2])))
for i in ("summary", "figure-emc", "fits", "spec", "provenance", "flags", "compute"):
    assert i in p.ids, (i, p.ids)
assert p.ids["summary"] == "table" and p.rows == cells == 6, (p.rows, cells)
assert p.imgs["figure-emc"][-1].startswith("data:image/svg+xml;base64"), p.imgs
assert "fits" in p.imgs["figure-fits"], p.imgs
assert open(sys.argv[3]).read().strip() in p.spec, p.spec[:200]
PY

# The report's numbers against the trials table, and its EMCs against
# emcctl summary's.
sqlite3 -batch -noheader -separator ' ' "$db" \
  "SELECT c.name, ce.idx, sum(t.state IN ('fit', 'no_fit', 'failed', 'cancelled')), sum(coalesce(t.sample_grads, 0))
   FROM trials t JOIN cells ce ON ce.id = t.cell_id JOIN campaigns c ON c.id = ce.campaign_id
   GROUP BY ce.id ORDER BY c.name, ce.idx" >"$work/recomputed.txt"
check "the report's trials and sample_grads per cell equal the trials table's, its EMCs summary's" \
  "$PY" - "$work/report.html" "$work/recomputed.txt" "$work/summary.json" <<'PY'
import json, sys
from html.parser import HTMLParser
class Rows(HTMLParser):
    def __init__(self):
        super().__init__(); self.rows, self.row, self.cls = [], None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr": self.row = {} if a.get("class") == "cell" else None
        if tag == "td" and self.row is not None: self.cls = a.get("class", "").split()[-1]
    def handle_endtag(self, tag):
        if tag == "tr" and self.row is not None: self.rows.append(self.row); self.row = None
        if tag == "td": self.cls = None
    def handle_data(self, d):
        if self.row is not None and self.cls: self.row[self.cls] = self.row.get(self.cls, "") + d
r = Rows(); r.feed(open(sys.argv[1]).read())
table = sorted((x["campaign"], int(x["cell"]), int(x["trials"]), int(x["sample_grads"])) for x in r.rows)
sql = sorted((c, int(i), int(t), int(g)) for c, i, t, g in (l.split() for l in open(sys.argv[2])))
assert table == sql and len(table) == 6, (table, sql)
emc = {(c["campaign"], c["cell"]): c for g in json.load(open(sys.argv[3])) for c in g["cells"]}
for x in r.rows:
    c = emc[(x["campaign"], int(x["cell"]))]
    want = (">=" if c["full"] else "") + str(c["emc"]) + ("*" if c["unconverged"] else "")
    assert x["emc"] == want, (x, want)
PY

check "Chromium ended by itself both times, and every process it started was reaped" \
  test "$browsers" = 0

if ((failures > 0)); then exit 1; fi
