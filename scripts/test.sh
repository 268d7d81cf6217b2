#!/usr/bin/env bash
# The test command from README.md: installs what the tests need, then runs them all.
# The differential tests compare ninesdb with a real redis-server, and the cluster tests
# drive it with redis-cli -c and redis-py's RedisCluster, and the metrics test parses /metrics
# with Prometheus's own Python parser (Debian's packages, all four).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1 || ! /usr/bin/python3 -c "import redis.cluster, prometheus_client.parser" >/dev/null 2>&1; then
    echo "installing redis-server, redis-tools, python3-redis and python3-prometheus-client (needed by the differential, cluster and metrics tests)"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools python3-redis python3-prometheus-client >/dev/null
fi
# Formatting is part of the build: rustfmt's defaults, the whole workspace.
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all --check || { echo "cargo fmt --all --check: unformatted code (run cargo fmt --all)"; exit 1; }
fi
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
    # nextest does not run doctests.
    cargo test --workspace --doc
else
    cargo test --workspace
fi
# The dashboard in a real browser (headless Chromium, installed if missing): a killed node
# shows as down and its replicas' repair shows.
bash scripts/screenshot-dashboard.sh
