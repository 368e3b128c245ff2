"""Build silver from bronze: typed, validated, pseudonymised; failing rows to quarantine.

    spark-submit jobs/silver.py [--lake LAKE] [--force]
    cslake run silver [--lake LAKE] [--force]

The pseudonymisation key comes from CSLAKE_HASH_KEY or CSLAKE_HASH_KEY_FILE (set on the
driver and the executors); the job refuses to start without one.
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake
from cslake.silver.build import build_silver


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Build silver from bronze.")
    ap.add_argument("--lake", default=None)
    ap.add_argument("--force", action="store_true", help="rebuild every table even if unchanged")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = build_silver(Lake(root=args.lake, spark=get_spark()), force=args.force)
    print(report.summary())


if __name__ == "__main__":
    main()
