"""Build gold from silver: restricted aggregates and their suppressed, published copies.

    spark-submit jobs/gold.py [--lake LAKE] [--tables riia_indicators,...] [--region london]
    cslake run gold [--lake LAKE] [--tables ...]
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.gold.build import build_gold
from cslake.lake import Lake


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Build gold from silver.")
    ap.add_argument("--lake", default=None)
    ap.add_argument("--tables", default=None, help="comma-separated gold tables (default: all in conf/gold.yaml)")
    ap.add_argument("--region", default=None, help="conf/regions.yaml key for the region rows")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tables = [t.strip() for t in args.tables.split(",")] if args.tables else None
    report = build_gold(Lake(root=args.lake, spark=get_spark()), tables=tables, region=args.region)
    print(report.summary())


if __name__ == "__main__":
    main()
