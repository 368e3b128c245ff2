"""Link silver records into persons: spine, persons, conflicts, journeys.

    spark-submit jobs/linkage.py [--lake LAKE]
    cslake build linkage
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake
from cslake.linkage import build_linkage


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Link silver records into one pseudonymous person_id per child.")
    ap.add_argument("--lake", default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = build_linkage(Lake(root=args.lake, spark=get_spark()))
    print(report.summary())


if __name__ == "__main__":
    main()
