# Celery (the Python task queue) with a Redis-protocol server as both its broker (lists, sets,
# a fan-out over pub/sub) and its result backend (each result is published on a channel the
# caller subscribes to): a worker in this process runs 100 tasks, the caller waits on every
# result. Exits 0 only if every result is right.
# Usage: python celery_tasks.py [port]
import sys, time
from celery import Celery
from celery.contrib.testing.worker import start_worker

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 7001
URL = f"redis://127.0.0.1:{PORT}/0"
app = Celery("demo", broker=URL, backend=URL)
app.conf.update(result_expires=600, broker_connection_retry_on_startup=True)

@app.task
def square(n):
    return n * n

if __name__ == "__main__":
    start = time.time()
    with start_worker(app, concurrency=2, pool="threads", perform_ping_check=False):
        results = [square.delay(n) for n in range(100)]
        values = [r.get(timeout=30) for r in results]
    right = values == [n * n for n in range(100)]
    print(f"celery {__import__('celery').__version__}: {len(values)} of 100 task results, right: {right}, {time.time() - start:.1f} s")
    sys.exit(0 if right else 1)
