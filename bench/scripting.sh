#!/usr/bin/env bash
# Scripts, streams and pub/sub on ninesdb next to redis-server with `appendfsync always`, same
# client (redis-benchmark), same machine, one run each:
#   - EVALSHA of a 3-command script (INCR, EXPIRE, GET of one key);
#   - XADD to one stream, then XREADGROUP of those entries, one per call;
#   - PUBLISH to a channel with 10 subscribers (on other nodes of ninesdb: a message crosses
#     the cluster's links to reach them).
# ninesdb is a 3-node `ninesdb up` (release build); redis-benchmark runs in cluster mode against
# it, so each command goes straight to its group's leader. Every process started here is
# stopped by its PID on exit.
#
# Usage: bench/scripting.sh   (env: CLIENTS=50 REQUESTS=100000)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLIENTS="${CLIENTS:-50}"
REQUESTS="${REQUESTS:-100000}"
WORK="$(mktemp -d /tmp/ninesdb-scripting.XXXXXX)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
command -v redis-benchmark >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; }
cargo build --release -q -p ninesdb --manifest-path "$ROOT/Cargo.toml"
NINESDB="${CARGO_TARGET_DIR:-$ROOT/target}/release/ninesdb"

redis-server --port 16900 --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always --dir "$WORK" >/dev/null &
PIDS+=($!)
(cd "$WORK" && exec "$NINESDB" up --nodes 3 >"$WORK/up.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "redis-cli" "$WORK/up.log" 2>/dev/null && redis-cli -p 16900 PING >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 1 100); do
    [ "$(redis-cli -p 7001 -c SET '{s}probe' 1 2>/dev/null)" = "OK" ] && [ "$(redis-cli -p 7001 -c SET '{st}probe' 1 2>/dev/null)" = "OK" ] && break
    sleep 0.2
done
sleep 3

row() { # name, then redis-benchmark arguments
    local name="$1"; shift
    printf '%-44s' "$name"
    redis-benchmark -q "$@" 2>/dev/null | tr '\r' '\n' | grep -E 'requests per second' | tail -1 || echo "(failed)"
}
SCRIPT="redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], 1000); return redis.call('GET', KEYS[1])"
for target in redis ninesdb; do
    if [ "$target" = redis ]; then
        port=16900; cluster=(); cli=(redis-cli -p 16900)
    else
        port=7001; cluster=(--cluster); cli=(redis-cli -c -p 7001)
    fi
    sha="$("${cli[@]}" SCRIPT LOAD "$SCRIPT")"
    echo "== $target"
    row "EVALSHA (INCR+EXPIRE+GET), $CLIENTS conns" -p "$port" "${cluster[@]}" -c "$CLIENTS" -n "$REQUESTS" -r 100000 EVALSHA "$sha" 1 '{s}counter:__rand_int__'
    "${cli[@]}" XGROUP CREATE '{st}stream' g '$' MKSTREAM >/dev/null
    row "XADD, $CLIENTS conns" -p "$port" "${cluster[@]}" -c "$CLIENTS" -n "$REQUESTS" XADD '{st}stream' '*' field value
    row "XREADGROUP COUNT 1 (of those), $CLIENTS conns" -p "$port" "${cluster[@]}" -c "$CLIENTS" -n "$REQUESTS" XREADGROUP GROUP g consumer COUNT 1 STREAMS '{st}stream' '>'
    # Ten subscribers (on nodes 2 and 3 for ninesdb), reading and discarding.
    subs=()
    for i in $(seq 1 10); do
        sub_port=$port
        [ "$target" = ninesdb ] && sub_port=$((7002 + i % 2))
        redis-cli -p "$sub_port" SUBSCRIBE news >/dev/null 2>&1 &
        subs+=($!)
    done
    sleep 1
    row "PUBLISH to 10 subscribers, $CLIENTS conns" -p "$port" -c "$CLIENTS" -n "$REQUESTS" PUBLISH news hello
    for pid in "${subs[@]}"; do kill "$pid" 2>/dev/null || true; done
done
