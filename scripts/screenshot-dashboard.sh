#!/usr/bin/env bash
# The dashboard, seen by a browser: starts `ninesdb up` with 4 servers (3 replicas per group,
# so a lost one can be rebuilt on the fourth), kills one server, waits until the survivors
# call it down, then opens node 1's dashboard in headless Chromium. Checks the rendered page
# (its DOM after the scripts ran) shows the node down and its replicas repaired (or under
# repair), and the
# screenshot shows the down node's red badge and the green ones of the others.
#
# Usage: scripts/screenshot-dashboard.sh [OUT_DIR]   (default /tmp/dashboard-screenshot)
# Leaves OUT_DIR/dashboard.png and OUT_DIR/dashboard.html (the DOM); exits non-zero with a
# message otherwise. Installs Debian's chromium and python3-pil when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${1:-/tmp/dashboard-screenshot}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
PNG="$OUT_DIR/dashboard.png"
DOM="$OUT_DIR/dashboard.html"
WIDTH=1280
HEIGHT=1400
PORT="${DASHBOARD_PORT:-27601}"
ADMIN=$((PORT + 300))
VICTIM=4
PYTHON=/usr/bin/python3
UP_PID=""

fail() {
    echo "screenshot-dashboard: FAIL: $*" >&2
    exit 1
}

stop_cluster() {
    # Only what this script started: `up` and its servers (its children).
    if [ -n "$UP_PID" ]; then
        pkill -KILL -P "$UP_PID" 2>/dev/null || true
        kill -KILL "$UP_PID" 2>/dev/null || true
    fi
}
trap stop_cluster EXIT

# shellcheck source=lib/chromium.sh
. scripts/lib/chromium.sh
ensure_chromium

# The dev build: scripts/test.sh has just built it for the tests (a release build would take
# minutes more on a small machine). NINESDB_BIN picks another binary.
if [ -z "${NINESDB_BIN:-}" ]; then
    cargo build --quiet -p ninesdb || fail "the build failed"
    NINESDB_BIN=./target/debug/ninesdb
fi
rm -rf "$OUT_DIR/data"
"$NINESDB_BIN" up --nodes 4 --groups 3 --down-after-ms 3000 --port "$PORT" \
    --data "$OUT_DIR/data" --seconds 150 >"$OUT_DIR/up.log" 2>&1 &
UP_PID=$!

# status [ADMIN_PORT]: a server's /status.json (node 1's by default).
status() {
    "$PYTHON" -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())" \
        "http://127.0.0.1:${1:-$ADMIN}/status.json" 2>/dev/null || true
}

deadline=$((SECONDS + 60))
until grep -qs "ninesdb is up" "$OUT_DIR/up.log"; do
    [ "$SECONDS" -lt "$deadline" ] || { cat "$OUT_DIR/up.log" >&2; fail "the cluster did not come up within 60 s"; }
    sleep 0.5
done
redis-cli -p "$PORT" -c set dashboard-key 1 >/dev/null 2>&1 || true

# The victim: a server holding a replica of some data group, so that its loss needs a repair.
victim_pid=""
for pid in $(pgrep -P "$UP_PID"); do
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--id $VICTIM "; then victim_pid="$pid"; fi
done
[ -n "$victim_pid" ] || fail "no server process for node $VICTIM under up (pid $UP_PID)"
holds=$(status | "$PYTHON" -c "import json,sys; s=json.load(sys.stdin); print(sum(1 for g in s['groups'] if g['group'] and $VICTIM in g.get('voters', [])))")
[ "${holds:-0}" -gt 0 ] || fail "node $VICTIM holds no data replica; nothing to repair"
echo "screenshot-dashboard: killing node $VICTIM (pid $victim_pid), a voter of $holds data group(s)"
kill -KILL "$victim_pid"

# The page to open: a survivor that calls the victim down and whose leaders repair (or have
# repaired) one of its replicas. Which survivors lead which groups varies from run to run.
deadline=$((SECONDS + 45))
shown=""
until [ -n "$shown" ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no survivor called node $VICTIM down and repaired its replicas within 45 s"
    for node in 1 2 3; do
        port=$((ADMIN + node - 1))
        if status "$port" | "$PYTHON" -c "import json,sys; s=json.load(sys.stdin); down=any(n['id']==$VICTIM and n['down'] for n in s['nodes']); repair=any(r['leaving_node']==$VICTIM for r in s['repairs']) or any(h['repairing'] for h in s['hosted']); sys.exit(0 if down and repair else 1)" 2>/dev/null; then
            shown=$port
            break
        fi
    done
    sleep 0.5
done
ADMIN=$shown
echo "screenshot-dashboard: node $((ADMIN - PORT - 299)) calls node $VICTIM down and repairs its replicas; opening http://127.0.0.1:$ADMIN/"

# The DOM once the page's scripts have polled (virtual time lets the first polls finish).
chromium_run "$OUT_DIR" 60 --virtual-time-budget=5000 --dump-dom "http://127.0.0.1:$ADMIN/" >"$DOM"
# What the page shows, without its script's source.
sed '/<script>/,/<\/script>/d' "$DOM" >"$DOM.shown"
grep -q "node $VICTIM down" "$DOM.shown" || fail "the dashboard does not show node $VICTIM down (DOM in $DOM)"
# The repair, in progress or done (a repair takes about a second here).
grep -Eq "repair in progress|replaces node $VICTIM|repair pending" "$DOM.shown" || fail "the dashboard shows no repair of node $VICTIM's replicas (DOM in $DOM)"
rm -f "$PNG"
chromium_run "$OUT_DIR" 60 --virtual-time-budget=5000 --screenshot="$PNG" \
    --window-size="$WIDTH,$HEIGHT" "http://127.0.0.1:$ADMIN/" >/dev/null
[ -s "$PNG" ] || fail "chromium left no screenshot at $PNG"

"$PYTHON" - "$PNG" <<'PY'
"""The screenshot shows badges: the down node's red and the up nodes' green."""
import sys
from PIL import Image

image = Image.open(sys.argv[1]).convert("RGB")
pixels = image.load()
w, h = image.size
TARGETS = {"down (red #c62828)": (198, 40, 40), "up (green #2e8b57)": (46, 139, 87)}
counts = {name: 0 for name in TARGETS}
for y in range(h):
    for x in range(w):
        colour = pixels[x, y]
        for name, target in TARGETS.items():
            if all(abs(c - t) <= 12 for c, t in zip(colour, target)):
                counts[name] += 1
for name, n in counts.items():
    print(f"screenshot-dashboard:   {name}: {n} pixels")
problems = [f"{name}: only {n} pixels" for name, n in counts.items() if n < 300]
if problems:
    for p in problems:
        print(f"screenshot-dashboard: FAIL: {p}", file=sys.stderr)
    sys.exit(1)
PY
echo "screenshot-dashboard: OK: $PNG (node $VICTIM down, repair shown)"
