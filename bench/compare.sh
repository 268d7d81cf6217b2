#!/usr/bin/env bash
# ninesdb against its anchors on this machine, in one run (ratios are what compare across
# machines, see /work/shared/BENCHMARKS.md). Quick mode: one 5 s run per row after a 1 s
# warm-up (under 6 minutes). Full mode (--full or MODE=full): 3 runs of 15 s per row after a
# 1 s warm-up each, reporting the median ops/s and the median p50/p99 of the 3 (as in
# BENCHMARKS.md; about 25 minutes).
# Everything runs on loopback; every process started here is stopped by its PID on exit.
# etcd is NOT included yet (the etcd column needs an etcd client: future work).
# Writes results.jsonl (one JSON line per row and target) and compare.svg (chart) to a tmp dir.
#
# Usage: bench/compare.sh [--full]   (env: MODE=quick|full RUN_SECONDS WARMUP_SECONDS REPEAT CARGO_TARGET_DIR)
set -euo pipefail

MODE="${MODE:-quick}"
for arg in "$@"; do
    case "$arg" in
        --full) MODE=full ;;
        --quick) MODE=quick ;;
        *) echo "usage: $0 [--full|--quick]" >&2; exit 2 ;;
    esac
done
case "$MODE" in
    quick) DEF_RUN=5; DEF_REPEAT=1 ;;
    full) DEF_RUN=15; DEF_REPEAT=3 ;;
    *) echo "MODE must be quick or full, not $MODE" >&2; exit 2 ;;
esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RUN_SECONDS="${RUN_SECONDS:-$DEF_RUN}"
WARMUP_SECONDS="${WARMUP_SECONDS:-1}"
REPEAT="${REPEAT:-$DEF_REPEAT}"
WORK="$(mktemp -d /tmp/ninesdb-compare.XXXXXX)"
JSON="$WORK/results.jsonl"
SVG="$WORK/compare.svg"
PIDS=()

cleanup() {
    # Only what this script started, by PID (ninesdb up stops its servers on SIGTERM).
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

install_redis() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        echo "installing redis-server and redis-tools (Debian packages)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
    fi
}

build() {
    echo "building (release) into $TARGET_DIR"
    (cd "$ROOT" && cargo build --release -q)
    NINESDB="$TARGET_DIR/release/ninesdb"
    BENCH=("$NINESDB" bench)
}

# wait_ping PORT: up to 30 s for PONG (a cluster also needs a leader before it answers writes).
wait_ping() {
    for _ in $(seq 300); do
        [ "$(redis-cli -p "$1" ping 2>/dev/null)" = "PONG" ] && return 0
        sleep 0.1
    done
    echo "error: nothing answers PING on 127.0.0.1:$1 after 30 s" >&2
    exit 1
}

# start_redis PORT EXTRA_FLAGS...: a redis-server in the background, PID recorded.
start_redis() {
    local port="$1"; shift
    mkdir -p "$WORK/redis-$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$WORK/redis-$port" --daemonize no "$@" \
        >"$WORK/redis-$port.log" 2>&1 &
    PIDS+=("$!")
    REDIS_PID="$!"
    wait_ping "$port"
}

# bench_matrix LABEL TARGET PIDS: the matrix (REPEAT runs per row, median kept); writes first
# so reads find the keys.
bench_matrix() {
    local label="$1" target="$2" pids="$3"
    for workload in write read; do
        for shape in "1 1" "64 1" "64 16"; do
            set -- $shape
            echo "  $workload, $1 connections x $2 pipeline"
            "${BENCH[@]}" --target "$target" --workload "$workload" --connections "$1" --pipeline "$2" \
                --keys 10000 --value-size 64 --warmup-seconds "$WARMUP_SECONDS" --seconds "$RUN_SECONDS" \
                --pids "$pids" --repeat "$REPEAT" --label "$label" --json "$JSON" >>"$WORK/bench.log" 2>&1 \
                || echo "    run failed: see $WORK/bench.log"
        done
    done
}

# The leader's client port (writes sent to a follower would pay a forwarding hop).
ninesdb_leader() {
    for _ in $(seq 300); do
        local port
        port="$(redis-cli -p 18001 cluster slots 2>/dev/null | sed -n 4p)"
        if [[ "$port" =~ ^[0-9]+$ ]]; then echo "$port"; return 0; fi
        sleep 0.1
    done
    echo "error: the ninesdb cluster elected no leader in 30 s" >&2
    exit 1
}

run_ninesdb() {
    # Long enough for the whole matrix; it stops by itself, and is killed at the end anyway.
    local lifetime=$(( (RUN_SECONDS + WARMUP_SECONDS + 4) * 6 * REPEAT + 60 ))
    "$NINESDB" up --data "$WORK/ninesdb" --port 18001 --seconds "$lifetime" >"$WORK/ninesdb.log" 2>&1 &
    local up_pid="$!"
    PIDS+=("$up_pid")
    for port in 18001 18002 18003; do wait_ping "$port"; done
    local leader servers
    leader="$(ninesdb_leader)"
    servers="$(pgrep -P "$up_pid" | paste -sd, -)"
    echo "ninesdb (3 nodes, leader on $leader, server pids $servers)"
    bench_matrix ninesdb "resp://127.0.0.1:$leader,127.0.0.1:18001,127.0.0.1:18002,127.0.0.1:18003" "$servers"
}

print_table() {
    python3 - "$JSON" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def system(r):
    if r.get("label"): return r["label"]
    port = r["target"].split(",")[0].rsplit(":", 1)[1]
    return {"18379": "redis", "18380": "redis-aof"}.get(port, "ninesdb")
res = {(system(r), r["workload"], r["connections"], r["pipeline"]): r for r in rows}
def cell(r):
    if r is None: return "%28s" % "-"
    return "%9.0f/s %6.2f/%6.2f ms" % (r["ops_per_sec"], r["p50_us"] / 1000, r["p99_us"] / 1000)
print("\n%-6s %5s %4s | %-28s| %-28s| %-28s| %-8s %-7s %s" % ("load", "conns", "pipe", "redis (no persistence)",
      "redis-aof (fsync always)", "ninesdb (3 nodes)", "ratio", "vs", "ninesdb errors, CPU us/op"))
for workload in ["write", "read"]:
    for c, p in [(1, 1), (64, 1), (64, 16)]:
        k = lambda s: res.get((s, workload, c, p))
        n = k("ninesdb")
        anchor_name = "redis-aof" if workload == "write" else "redis"
        a = k(anchor_name)
        ratio = "%.2f" % (n["ops_per_sec"] / a["ops_per_sec"]) if n and a and a["ops_per_sec"] else "-"
        extra = ""
        if n:
            extra = "%d" % sum(n["errors"].values())
            if n.get("cpu_us_per_op"): extra += ", %.0f" % n["cpu_us_per_op"]
        print("%-6s %5d %4d | %s| %s| %s| %-8s %-9s %s" % (workload, c, p, cell(k("redis")), cell(k("redis-aof")),
              cell(n), ratio, anchor_name, extra))
runs = max((r.get("runs", 1) for r in rows), default=1)
if runs > 1: print("\nevery cell: median ops/s and median p50/p99 of %d runs" % runs)
print("\nratio = ninesdb ops/s / anchor ops/s (writes vs redis appendfsync always, reads vs redis without persistence)")
print("etcd: not measured (no etcd column yet).")
PY
}

main() {
    local started=$SECONDS
    install_redis
    build
    echo "results: $JSON ($MODE mode: $REPEAT x ${RUN_SECONDS} s runs per row after ${WARMUP_SECONDS} s warm-up)"
    start_redis 18379 --appendonly no
    echo "redis, no persistence (pid $REDIS_PID)"
    bench_matrix redis "resp://127.0.0.1:18379" "$REDIS_PID"
    kill "$REDIS_PID"
    start_redis 18380 --appendonly yes --appendfsync always
    echo "redis, appendfsync always (pid $REDIS_PID)"
    bench_matrix redis-aof "resp://127.0.0.1:18380" "$REDIS_PID"
    kill "$REDIS_PID"
    run_ninesdb
    print_table
    "${BENCH[@]}" --chart-from "$JSON" --chart-out "$SVG" >/dev/null
    echo "JSON lines: $JSON"
    echo "SVG chart:  $SVG"
    echo "total $(( SECONDS - started )) s; logs in $WORK"
}

main "$@"
