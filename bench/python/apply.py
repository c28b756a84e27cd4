"""W3: sequential pool.apply(square, (3,)) round trips on a warm pool."""

import sys
import time
from multiprocessing import Pool

from common import metric, square

if __name__ == "__main__":
    rounds = int(sys.argv[1])
    with Pool() as pool:
        for _ in range(min(rounds, 1000)):
            pool.apply(square, (3,))
        start = time.perf_counter()
        for _ in range(rounds):
            assert pool.apply(square, (3,)) == 9
        elapsed = time.perf_counter() - start
    print(f"check {rounds} calls returned 9")
    metric("roundtrip", elapsed / rounds * 1e6, "us")
