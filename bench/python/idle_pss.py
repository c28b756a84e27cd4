"""W9: the proportional set size of each idle Pool() worker after it ran a few tasks."""

import time
from multiprocessing import Pool

from common import metric, square

if __name__ == "__main__":
    with Pool() as pool:
        pool.map(square, range(1000), chunksize=1)
        time.sleep(0.2)
        sizes = []
        for process in pool._pool:
            with open(f"/proc/{process.pid}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        sizes.append(int(line.split()[1]))
    print(f"check {len(sizes)} workers")
    metric("pss", sum(sizes) / len(sizes) / 1024, "MiB")
