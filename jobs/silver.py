"""Build silver from bronze: typed, validated, pseudonymised; bad rows to quarantine.

    CSLAKE_HASH_KEY_FILE=~/.config/cslake/keys/<lake>.key spark-submit jobs/silver.py [--lake LAKE] [--force]
    cslake run silver [--lake LAKE]

The pseudonymisation key comes from $CSLAKE_HASH_KEY or the file named by
$CSLAKE_HASH_KEY_FILE (on a cluster, make it available to every executor too).
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake
from cslake.silver import build_silver


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Build silver from bronze.")
    ap.add_argument("--lake", default=None)
    ap.add_argument("--force", action="store_true", help="rebuild every table even if its inputs did not change")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    report = build_silver(Lake(root=args.lake, spark=get_spark()), force=args.force)
    print(report.summary())


if __name__ == "__main__":
    main()
