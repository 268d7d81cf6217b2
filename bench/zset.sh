#!/usr/bin/env bash
# Sorted sets on ninesdb next to redis-server with `appendfsync always`, same client
# (redis-benchmark), same machine, one run: ZADD throughput (random members), then ZRANGE of
# the top 10 of a 1,000,000-member leaderboard. ninesdb is a 3-node `ninesdb up` (release
# build); redis-benchmark runs in cluster mode against it, so each command goes straight to
# its group's leader. Every process started here is stopped by its PID on exit.
#
# Usage: bench/zset.sh   (env: CLIENTS=50 REQUESTS=200000 MEMBERS=1000000)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLIENTS="${CLIENTS:-50}"
REQUESTS="${REQUESTS:-200000}"
MEMBERS="${MEMBERS:-1000000}"
WORK="$(mktemp -d /tmp/ninesdb-zset.XXXXXX)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
command -v redis-benchmark >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; }
cargo build --release -q -p ninesdb --manifest-path "$ROOT/Cargo.toml"
NINESDB="${CARGO_TARGET_DIR:-$ROOT/target}/release/ninesdb"

redis-server --port 16800 --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always --dir "$WORK" >/dev/null &
PIDS+=($!)
(cd "$WORK" && exec "$NINESDB" up --nodes 3 >"$WORK/up.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "redis-cli" "$WORK/up.log" 2>/dev/null && redis-cli -p 16800 PING >/dev/null 2>&1 && break; sleep 0.2; done

# A leaderboard of MEMBERS members, 1,000 per ZADD, through redis-cli --pipe (to the
# leader of the key's group: --pipe does not follow -MOVED).
load() {
    local port="$1"
    python3 - "$MEMBERS" <<'PY' | redis-cli -p "$port" --pipe >/dev/null
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for start in range(0, n, 1000):
    args = [b"ZADD", b"{lb}board"]
    for i in range(start, min(n, start + 1000)):
        args += [str((i * 7919) % 1000003).encode(), b"player:%d" % i]
    out.write(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
PY
}
leader_port() { # the client port of the node that leads the slot of {lb}: the one that
    # does not answer a cluster-aware connection (after CLUSTER SLOTS) with -MOVED
    for port in 7001 7002 7003; do
        if ! printf 'CLUSTER SLOTS\nZCARD {lb}board\n' | redis-cli -p "$port" | tail -1 | grep -q MOVED; then
            echo "$port"; return
        fi
    done
    echo 7001
}
row() { # name, then redis-benchmark arguments
    local name="$1"; shift
    printf '%-34s' "$name"
    redis-benchmark -q "$@" 2>/dev/null | tr '\r' '\n' | grep -E 'requests per second' | tail -1
}
# Leaderships settle on their preferred nodes in the first seconds: wait until the
# leaderboard's group takes writes without a transfer under way.
for _ in $(seq 1 100); do
    [ "$(redis-cli -p 7001 -c SET '{lb}probe' 1 2>/dev/null)" = "OK" ] && break
    sleep 0.2
done
sleep 5
load 16800
NPORT="$(leader_port)"
load "$NPORT"
echo "members: redis $(redis-cli -p 16800 ZCARD '{lb}board'), ninesdb $(redis-cli -p "$NPORT" ZCARD '{lb}board') (leader of {lb} on port $NPORT)"
echo "$CLIENTS clients, $REQUESTS requests per row"
row "redis aof-always ZADD" -p 16800 -c "$CLIENTS" -n "$REQUESTS" -r 1000000 ZADD '{lb}zadd' __rand_int__ member:__rand_int__
row "ninesdb ZADD" -p 7001 --cluster -c "$CLIENTS" -n "$REQUESTS" -r 1000000 ZADD '{lb}zadd' __rand_int__ member:__rand_int__
row "redis aof-always ZRANGE top 10" -p 16800 -c "$CLIENTS" -n "$REQUESTS" ZRANGE '{lb}board' 0 9 REV WITHSCORES
row "ninesdb ZRANGE top 10" -p 7001 --cluster -c "$CLIENTS" -n "$REQUESTS" ZRANGE '{lb}board' 0 9 REV WITHSCORES
