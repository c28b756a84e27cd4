"""W1 and W4: Pool().map(square) over range(N), results printed one per line in order."""

import sys
from multiprocessing import Pool

from common import square

if __name__ == "__main__":
    n = int(sys.argv[1])
    with Pool() as pool:
        results = pool.map(square, range(n))
    sys.stdout.write("".join(f"{r}\n" for r in results))
