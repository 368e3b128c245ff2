"""Land the raw drop zone into bronze.

    spark-submit jobs/land.py [RAW_DIR] [--lake LAKE]
    cslake run land [RAW_DIR] [--lake LAKE]
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake
from cslake.land import land_raw


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Land the raw drop zone into bronze.")
    ap.add_argument("raw", nargs="?", default="raw")
    ap.add_argument("--lake", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = land_raw(Lake(root=args.lake, spark=get_spark()), args.raw)
    print(report.summary())


if __name__ == "__main__":
    main()
