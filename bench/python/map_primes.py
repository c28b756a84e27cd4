"""W2 and W6: Pool(P).map(primes) over COUNT copies of N, one result per line."""

import sys
from multiprocessing import Pool

from common import primes

if __name__ == "__main__":
    n, count = int(sys.argv[1]), int(sys.argv[2])
    processes = int(sys.argv[3]) if len(sys.argv) > 3 else None
    with Pool(processes) as pool:
        results = pool.map(primes, [n] * count, chunksize=1)
    sys.stdout.write("".join(f"{r}\n" for r in results))
