# BullMQ (the Python port) against a Redis-protocol server: 200 jobs through a queue and a
# worker; BullMQ runs every queue operation as a Lua script and logs job events in a stream.
# Exits 0 only if every job was processed once. Usage: python bullmq_jobs.py [port]
import asyncio, sys, time
from bullmq import Queue, Worker

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 7001
OPTS = {"connection": f"redis://127.0.0.1:{PORT}", "prefix": "{bull}"}

async def main():
    queue = Queue("jobs", OPTS)
    done = []
    async def process(job, token):
        done.append(job.data["n"])
        return job.data["n"] * 2
    worker = Worker("jobs", process, OPTS)
    start = time.time()
    for n in range(200):
        await queue.add("double", {"n": n})
    while len(done) < 200 and time.time() - start < 60:
        await asyncio.sleep(0.1)
    counts = await queue.getJobCounts("completed", "failed", "waiting", "active")
    print(f"processed {len(done)} of 200 jobs in {time.time()-start:.1f} s; counts {counts}")
    await worker.close()
    await queue.close()
    sys.exit(0 if sorted(done) == list(range(200)) else 1)

asyncio.run(main())
