"""W8: Pool().map over a JSON Lines file of strings: each line's hex SHA-256 (hashlib), printed
as a JSON string, in order. Lines are read lazily and results written as they come (imap)."""

import sys
from multiprocessing import Pool

from common import sha256_line

if __name__ == "__main__":
    with open(sys.argv[1]) as lines, Pool() as pool:
        out = sys.stdout
        for digest in pool.imap(sha256_line, (l for l in lines if l.strip()), chunksize=16):
            out.write(digest)
            out.write("\n")
