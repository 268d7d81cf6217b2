#!/usr/bin/env bash
# Runs a lab scenario (leader-crash, short form) to get a real report, opens it in headless
# Chromium, takes a screenshot and checks the page has its charts: not blank, chart line
# colours drawn across the plot width, fault bands shaded, node squares drawn.
#
# Usage: scripts/screenshot-report.sh [--sample] [OUT_DIR]   (default /tmp/report-screenshot)
#   --sample: the report crate's synthetic sample (crates/report/examples/sample.rs) instead.
# Leaves OUT_DIR/<name>.html and OUT_DIR/<name>.png; exits non-zero with a message otherwise.
# Installs Debian's chromium and python3-pil when missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=lab
if [ "${1:-}" = "--sample" ]; then MODE=sample; shift; fi
OUT_DIR="${1:-/tmp/report-screenshot}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
NAME=$([ "$MODE" = lab ] && echo leader-crash || echo sample)
HTML="$OUT_DIR/$NAME.html"
PNG="$OUT_DIR/$NAME.png"
WIDTH=1280
HEIGHT=2000
CHROMIUM_TIMEOUT_SECONDS=120
# The system interpreter: Debian's python3-pil installs there, not into other Pythons on PATH.
PYTHON=/usr/bin/python3

fail() {
    echo "screenshot-report: FAIL: $*" >&2
    exit 1
}

# shellcheck source=lib/chromium.sh
. scripts/lib/chromium.sh
ensure_chromium

if [ "$MODE" = lab ]; then
    echo "screenshot-report: running the leader-crash scenario (short form) for its report"
    cargo run --quiet --release -p ninesdb -- lab run leader-crash --short --report "$OUT_DIR" >"$OUT_DIR/lab-run.log" \
        || { cat "$OUT_DIR/lab-run.log" >&2; fail "the lab run failed"; }
else
    echo "screenshot-report: rendering the sample report"
    cargo run --quiet -p report --example sample -- "$HTML" || fail "the sample example failed"
fi
[ -s "$HTML" ] || fail "no HTML report at $HTML"

echo "screenshot-report: taking a ${WIDTH}x${HEIGHT} screenshot with $(chromium --version 2>/dev/null || echo chromium)"
rm -f "$PNG"
chromium_run "$OUT_DIR" "$CHROMIUM_TIMEOUT_SECONDS" \
    --screenshot="$PNG" --window-size="$WIDTH,$HEIGHT" "file://$HTML" >"$OUT_DIR/chromium.log"
[ -s "$PNG" ] || fail "chromium left no screenshot at $PNG"

"$PYTHON" - "$PNG" "$WIDTH" "$HEIGHT" "$MODE" <<'PY'
"""Checks the screenshot shows a report with charts, not a blank or broken page."""
import sys
from PIL import Image

path, width, height, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
image = Image.open(path).convert("RGB")
problems = []
if image.size != (width, height):
    problems.append(f"screenshot is {image.size[0]}x{image.size[1]}, expected {width}x{height}")

pixels = image.load()
w, h = image.size
# The page background (#f4f6f8) and white cards are "empty"; anything else is content.
EMPTY = [(255, 255, 255), (244, 246, 248)]
# Okabe-Ito colours the sample draws: two chart lines, the third line and the node squares,
# and the fault band (vermillion at 11% over white).
TARGETS = {
    "blue line (#0072B2)": (0, 114, 178),
    "orange line (#E69F00)": (230, 159, 0),
    "green line/nodes (#009E73)": (0, 158, 115),
    "fault band": (250, 237, 227),
}
TOLERANCE = {"fault band": 6}

def near(colour, target, tolerance):
    return all(abs(c - t) <= tolerance for c, t in zip(colour, target))

content = 0
counts = {name: 0 for name in TARGETS}
columns = {name: set() for name in TARGETS}
for y in range(h):
    for x in range(w):
        colour = pixels[x, y]
        if not any(near(colour, empty, 10) for empty in EMPTY):
            content += 1
        for name, target in TARGETS.items():
            if near(colour, target, TOLERANCE.get(name, 40)):
                counts[name] += 1
                columns[name].add(x)

share = content / (w * h)
print(f"screenshot-report: {path}: {w}x{h}, content pixels {share:.1%}")
for name in TARGETS:
    print(f"screenshot-report:   {name}: {counts[name]} pixels in {len(columns[name])} columns")

if share < 0.05:
    problems.append(f"page looks blank: only {share:.1%} of pixels are content (need 5%)")
# A line drawn across a chart colours most pixel columns of the plot (about 1000 wide at
# this size); a legend swatch alone colours about 20. A lab report draws each panel's first
# series in blue and the leaders panel's second in orange; green marks its up nodes.
lines = ["blue line (#0072B2)"] + (["orange line (#E69F00)", "green line/nodes (#009E73)"] if mode == "sample" else [])
if mode == "lab":
    # The leaders panel's orange line runs along zero while its nodes are down: fewer pixels.
    if counts["orange line (#E69F00)"] < 300 or len(columns["orange line (#E69F00)"]) < 300:
        problems.append(f"orange line: {counts['orange line (#E69F00)']} pixels in {len(columns['orange line (#E69F00)'])} columns; expected the leaders line (>= 300 columns)")
    if counts["green line/nodes (#009E73)"] < 500:
        problems.append(f"green node squares: {counts['green line/nodes (#009E73)']} pixels; expected the topology's up nodes (>= 500)")
for name in lines:
    if counts[name] < 2000 or len(columns[name]) < 600:
        problems.append(f"{name}: {counts[name]} pixels in {len(columns[name])} columns; "
                        "expected a line across the chart (>= 2000 pixels, >= 600 columns)")
if counts["fault band"] < 20000:
    problems.append(f"fault band: {counts['fault band']} pixels; expected shaded bands (>= 20000)")

if problems:
    for problem in problems:
        print(f"screenshot-report: FAIL: {problem}", file=sys.stderr)
    sys.exit(1)
print("screenshot-report: OK: the report shows its charts, fault bands and topology")
PY
