#!/usr/bin/env bash
# Real Redis applications, written by others, against a running ninesdb (default: `ninesdb up`
# on 7001) with no change to their code: the libraries come from the Python package registry
# into a throwaway virtualenv. Not part of the test suite (it needs the registry).
#
#   - BullMQ (Python port of the Node job queue): Lua scripts for every queue operation and a
#     stream of job events; 200 jobs through a queue and a worker. Its documented Redis Cluster
#     setting (a `{...}` prefix, so a queue's keys share one slot) is the only option given.
#   - Celery (task queue) with ninesdb as broker (lists, sets, a fan-out over pub/sub) and as
#     result backend (each result published on a channel its caller subscribed to): 100
#     tasks through a worker. Its broker moves a task between keys of different slots in one
#     MULTI, which ninesdb answers `-CROSSSLOT` across groups (as Redis Cluster, which Celery
#     does not support): run it against a cluster of one group (`ninesdb up --groups 1`).
#
# Usage: scripts/apps/run.sh [port]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PORT="${1:-7001}"
VENV="${VENV:-/tmp/ninesdb-apps-venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q bullmq celery packaging
echo "BullMQ $("$VENV/bin/pip" show bullmq | sed -n 's/^Version: //p'):"
"$VENV/bin/python" "$HERE/bullmq_jobs.py" "$PORT"
echo "Celery:"
"$VENV/bin/python" "$HERE/celery_tasks.py" "$PORT"
