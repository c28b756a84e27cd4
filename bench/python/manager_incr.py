"""W15: one shared counter incremented from pool tasks, as Python does it: a Manager().dict()
and a Manager lock around each read-modify-write (a proxy round trip each)."""

import sys
from multiprocessing import Manager, Pool


def bump(args):
    counts, lock, n = args
    for _ in range(n):
        with lock:
            counts["counter"] = counts.get("counter", 0) + 1
    return n


if __name__ == "__main__":
    total, per_task, processes = (int(arg) for arg in sys.argv[1:4])
    tasks = total // per_task
    with Manager() as manager:
        counts = manager.dict()
        lock = manager.Lock()
        with Pool(processes) as pool:
            pool.map(bump, [(counts, lock, per_task)] * tasks)
        assert counts["counter"] == tasks * per_task
        print(f"check counter {counts['counter']}")
