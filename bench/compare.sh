#!/usr/bin/env bash
# ninesdb against its anchors on this machine, in one run (ratios are what compare across
# machines, see ../shared/BENCHMARKS.md): redis without persistence, redis with appendfsync
# always, etcd with 3 members, and a 3-node ninesdb (`ninesdb up`), all on loopback. The matrix:
# writes, linearizable reads and 50/50, with 1 connection, 64, and 64 x 16 pipelined (etcd: 16
# concurrent gRPC requests per connection).
# Quick mode: one 5 s run per row after a 1 s warm-up (under 6 minutes). Full mode (--full or
# MODE=full): 3 runs of 15 s per row after a 1 s warm-up each, reporting the median ops/s and the
# median p50/p99 of the 3 (as in BENCHMARKS.md; about 35 minutes).
# Installs what is missing from Debian's packages (redis-server redis-tools etcd-server
# etcd-client protobuf-compiler); builds ninesdb with --features etcd. Every process started
# here is stopped by its PID on exit. Set ETCD=/path/to/etcd to measure another etcd build
# (BENCHMARKS.md prefers 3.5 as the read anchor; Debian bookworm ships 3.4).
# Writes results.jsonl (one JSON line per row and target) and compare.svg (chart) to a tmp dir.
#
# Ports: from BENCH_PORT_BASE (default 18001, the historical layout's ninesdb port), so a run can
# keep clear of test suites running on the same machine: ninesdb clients base..base+2 (peers
# base+100..base+102), redis base+10 and base+11, etcd clients base+20..base+22 and peers
# base+30..base+32.
#
# Usage: bench/compare.sh [--full]
#   (env: MODE=quick|full RUN_SECONDS WARMUP_SECONDS REPEAT CARGO_TARGET_DIR ETCD BENCH_PORT_BASE
#    SKIP_ETCD=1 to leave etcd out of a run, WORKLOADS="write read" for fewer rows, NINESDB_BIN
#    to measure a ninesdb binary built elsewhere, e.g. an earlier commit's)
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
ETCD="${ETCD:-etcd}"
SKIP_ETCD="${SKIP_ETCD:-0}"
WORKLOADS="${WORKLOADS:-write read mixed}"
BASE="${BENCH_PORT_BASE:-18001}"
if ! [[ "$BASE" =~ ^[0-9]+$ ]] || [ "$BASE" -lt 1024 ] || [ "$BASE" -gt 65400 ]; then
    echo "BENCH_PORT_BASE must be a port number from 1024 to 65400, not $BASE" >&2; exit 2
fi
NINESDB_PORTS=("$BASE" "$((BASE + 1))" "$((BASE + 2))")
REDIS_PORT="$((BASE + 10))"
REDIS_AOF_PORT="$((BASE + 11))"
PIDS=()

cleanup() {
    # Only what this script started, by PID (ninesdb up stops its servers on SIGTERM).
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# install_missing: the Debian packages whose commands are missing.
install_missing() {
    local packages=()
    command -v redis-server >/dev/null || packages+=(redis-server)
    command -v redis-cli >/dev/null || packages+=(redis-tools)
    if [ "$SKIP_ETCD" != 1 ]; then
        command -v "$ETCD" >/dev/null || packages+=(etcd-server)
        command -v etcdctl >/dev/null || packages+=(etcd-client)
    fi
    command -v protoc >/dev/null || packages+=(protobuf-compiler)
    if [ "${#packages[@]}" -gt 0 ]; then
        echo "installing ${packages[*]} (Debian packages)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    fi
}

build() {
    if [ -n "${NINESDB_BIN:-}" ]; then
        echo "using the ninesdb binary $NINESDB_BIN (NINESDB_BIN: not built here)"
        NINESDB="$NINESDB_BIN"
        BENCH=("$NINESDB" bench)
        return
    fi
    echo "building ninesdb (release, --features etcd) into $TARGET_DIR"
    (cd "$ROOT" && cargo build --release -q -p ninesdb --features etcd)
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
    for workload in $WORKLOADS; do
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
        port="$(redis-cli -p "${NINESDB_PORTS[0]}" cluster slots 2>/dev/null | sed -n 4p)"
        if [[ "$port" =~ ^[0-9]+$ ]]; then echo "$port"; return 0; fi
        sleep 0.1
    done
    echo "error: the ninesdb cluster elected no leader in 30 s" >&2
    exit 1
}

# etcd, 3 members on loopback, exactly as BENCHMARKS.md starts them.
ETCD_CLIENT_PORTS=("$((BASE + 20))" "$((BASE + 21))" "$((BASE + 22))")
ETCD_PEER_PORTS=("$((BASE + 30))" "$((BASE + 31))" "$((BASE + 32))")
ETCD_ENDPOINTS="127.0.0.1:${ETCD_CLIENT_PORTS[0]},127.0.0.1:${ETCD_CLIENT_PORTS[1]},127.0.0.1:${ETCD_CLIENT_PORTS[2]}"

# The leader's client address (load goes there first, as with ninesdb).
etcd_leader() {
    for _ in $(seq 300); do
        local leader
        leader="$(ETCDCTL_API=3 etcdctl --endpoints "$ETCD_ENDPOINTS" --command-timeout=1s endpoint status 2>/dev/null \
            | awk -F', ' '$5 == "true" { print $1 }' | head -1)"
        if [ -n "$leader" ]; then echo "$leader"; return 0; fi
        sleep 0.1
    done
    echo "error: etcd elected no leader in 30 s (logs in $WORK)" >&2
    exit 1
}

run_etcd() {
    local initial="s1=http://127.0.0.1:${ETCD_PEER_PORTS[0]},s2=http://127.0.0.1:${ETCD_PEER_PORTS[1]},s3=http://127.0.0.1:${ETCD_PEER_PORTS[2]}"
    local pids=() i
    for i in 0 1 2; do
        local name="s$((i + 1))" cp="${ETCD_CLIENT_PORTS[$i]}" pp="${ETCD_PEER_PORTS[$i]}"
        "$ETCD" --name "$name" --data-dir "$WORK/etcd/$name" \
            --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
            --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
            --initial-cluster "$initial" --initial-cluster-state new >"$WORK/etcd-$name.log" 2>&1 &
        PIDS+=("$!")
        pids+=("$!")
    done
    local leader others
    leader="$(etcd_leader)"
    others="$(echo "$ETCD_ENDPOINTS" | tr ',' '\n' | grep -vx "$leader" | paste -sd, -)"
    echo "etcd $("$ETCD" --version | awk '/etcd Version/ { print $3 }') (3 members, leader on $leader, pids ${pids[*]})"
    bench_matrix etcd "etcd://$leader,$others" "$(IFS=,; echo "${pids[*]}")"
    kill "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

run_ninesdb() {
    # Long enough for the whole matrix; it stops by itself, and is killed at the end anyway.
    local lifetime=$(( (RUN_SECONDS + WARMUP_SECONDS + 4) * 9 * REPEAT + 60 ))
    "$NINESDB" up --data "$WORK/ninesdb" --port "${NINESDB_PORTS[0]}" --seconds "$lifetime" >"$WORK/ninesdb.log" 2>&1 &
    local up_pid="$!"
    PIDS+=("$up_pid")
    for port in "${NINESDB_PORTS[@]}"; do wait_ping "$port"; done
    local leader servers
    leader="$(ninesdb_leader)"
    servers="$(pgrep -P "$up_pid" | paste -sd, -)"
    echo "ninesdb (3 nodes, leader on $leader, server pids $servers)"
    bench_matrix ninesdb "resp://127.0.0.1:$leader,127.0.0.1:${NINESDB_PORTS[0]},127.0.0.1:${NINESDB_PORTS[1]},127.0.0.1:${NINESDB_PORTS[2]}" "$servers"
}

print_table() {
    python3 - "$JSON" "$REDIS_PORT" "$REDIS_AOF_PORT" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def system(r):
    if r.get("label"): return r["label"]
    port = r["target"].split(",")[0].rsplit(":", 1)[1]
    return {sys.argv[2]: "redis", sys.argv[3]: "redis-aof"}.get(port, "ninesdb")
res = {(system(r), r["workload"], r["connections"], r["pipeline"]): r for r in rows}
systems = ["redis", "redis-aof", "etcd", "ninesdb"]
heads = ["redis (no persist.)", "redis-aof (fsync)", "etcd (3 members)", "ninesdb (3 nodes)"]
def ms(us):
    return "%.2f" % (us / 1000) if us < 10000 else "%.1f" % (us / 1000) if us < 100000 else "%.0f" % (us / 1000)
def cell(r):
    if r is None: return "%21s" % "-"
    return "%8.0f %5s/%6s" % (r["ops_per_sec"], ms(r["p50_us"]), ms(r["p99_us"]))
def ratio(n, a):
    return "%.2f" % (n["ops_per_sec"] / a["ops_per_sec"]) if n and a and a["ops_per_sec"] else "-"
print("\nops/s and p50/p99 latency in ms per target; ratios are ninesdb ops/s over the anchor's")
print("%-6s %5s %4s | %s | %-15s %-7s | %s" % ("load", "conns", "pipe", " | ".join("%-21s" % h for h in heads),
      "vs redis anchor", "vs etcd", "ninesdb errors, CPU us/op"))
for workload in ["write", "read", "mixed"]:
    for c, p in [(1, 1), (64, 1), (64, 16)]:
        k = lambda s: res.get((s, workload, c, p))
        n = k("ninesdb")
        anchor_name = "redis" if workload == "read" else "redis-aof"
        extra = ""
        if n:
            extra = "%d" % sum(n["errors"].values())
            if n.get("cpu_us_per_op"): extra += ", %.0f" % n["cpu_us_per_op"]
        print("%-6s %5d %4d | %s | %-5s %-9s %-7s | %s" % (workload, c, p, " | ".join(cell(k(s)) for s in systems),
              ratio(n, k(anchor_name)), anchor_name, ratio(n, k("etcd")), extra))
runs = max((r.get("runs", 1) for r in rows), default=1)
if runs > 1: print("\nevery cell: median ops/s and median p50/p99 of %d runs" % runs)
print("\nredis anchor: writes and 50/50 vs redis appendfsync always, reads vs redis without persistence.")
print("etcd: Put / linearizable Range through etcd-client; pipeline 16 = 16 concurrent gRPC requests per connection.")
errors = {s: sum(sum(r["errors"].values()) for (sy, *_), r in res.items() if sy == s) for s in systems}
if any(errors[s] for s in systems[:3]): print("anchor errors: %s" % ", ".join("%s %d" % (s, errors[s]) for s in systems[:3]))
PY
}

main() {
    local started=$SECONDS
    install_missing
    build
    echo "results: $JSON ($MODE mode: $REPEAT x ${RUN_SECONDS} s runs per row after ${WARMUP_SECONDS} s warm-up)"
    start_redis "$REDIS_PORT" --appendonly no
    echo "redis, no persistence (pid $REDIS_PID)"
    bench_matrix redis "resp://127.0.0.1:$REDIS_PORT" "$REDIS_PID"
    kill "$REDIS_PID"
    start_redis "$REDIS_AOF_PORT" --appendonly yes --appendfsync always
    echo "redis, appendfsync always (pid $REDIS_PID)"
    bench_matrix redis-aof "resp://127.0.0.1:$REDIS_AOF_PORT" "$REDIS_PID"
    kill "$REDIS_PID"
    if [ "$SKIP_ETCD" = 1 ]; then echo "etcd left out (SKIP_ETCD=1)"; else run_etcd; fi
    run_ninesdb
    print_table
    "${BENCH[@]}" --chart-from "$JSON" --chart-out "$SVG" >/dev/null
    echo "JSON lines: $JSON"
    echo "SVG chart:  $SVG"
    echo "total $(( SECONDS - started )) s; logs in $WORK"
}

main "$@"
