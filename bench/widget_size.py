"""Print the size of the served embed script against its 6 kB gzip budget.

Usage: python3 bench/widget_size.py [PATH]

Reports raw, gzip (-9) and brotli (quality 11, if the ``brotli`` module is
installed) sizes. Exits 1 when the gzip size is over budget, so CI can run it.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

BUDGET = 6144  # bytes, gzipped
ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "src" / "flask_urgentaction" / "static" / "widget.js"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    data = path.read_bytes()
    # mtime=0 keeps the gzip output, and so the number, independent of the clock.
    gz = len(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"file:   {path}")
    print(f"raw:    {len(data):6d} bytes")
    print(f"gzip:   {gz:6d} bytes (-9)")
    try:
        import brotli  # type: ignore[import-not-found]
    except ImportError:
        print("brotli: skipped (pip install brotli to measure it)")
    else:
        print(f"brotli: {len(brotli.compress(data, quality=11)):6d} bytes (q11)")
    print(f"budget: {gz / BUDGET:6.1%} of {BUDGET} bytes gzip")
    if gz > BUDGET:
        print("OVER BUDGET", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
