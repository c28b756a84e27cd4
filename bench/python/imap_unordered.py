"""W5: pool.imap_unordered(square, range(N), chunksize=1), pool start-up excluded."""

import sys
import time
from multiprocessing import Pool

from common import metric, square

if __name__ == "__main__":
    n = int(sys.argv[1])
    with Pool() as pool:
        pool.apply(square, (0,))
        start = time.perf_counter()
        total = 0
        for value in pool.imap_unordered(square, range(n), chunksize=1):
            total = (total + value) & 0xFFFFFFFFFFFFFFFF
        elapsed = time.perf_counter() - start
    print(f"check sum of squares {total}")
    metric("throughput", n / elapsed, "items/s")
