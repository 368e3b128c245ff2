"""Delta maintenance: OPTIMIZE (compact small files) and/or VACUUM (delete unreferenced files).

    spark-submit jobs/maintain.py [--optimize] [--vacuum --retain-hours N] [--table T ...] [--lake LAKE]
    cslake run maintain --optimize --vacuum

On Spark + Delta this runs Delta's OPTIMIZE / VACUUM SQL; on Sail, delta-rs does it.
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.delta import maintain, print_maintenance
from cslake.engine import get_spark
from cslake.lake import Lake


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="OPTIMIZE and/or VACUUM the lake's Delta tables.")
    ap.add_argument("--optimize", action="store_true", help="compact small files")
    ap.add_argument("--vacuum", action="store_true", help="delete files no longer referenced")
    ap.add_argument("--retain-hours", type=int, default=168, help="VACUUM retention (default 168)")
    ap.add_argument("--table", action="append", default=None, help="only this table (repeatable)")
    ap.add_argument("--lake", default=None)
    args = ap.parse_args(argv)
    if not (args.optimize or args.vacuum):
        ap.error("say what to do: --optimize and/or --vacuum")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    results = maintain(Lake(root=args.lake, spark=get_spark()), args.table, optimize=args.optimize,
                       vacuum=args.vacuum, retain_hours=args.retain_hours)
    print_maintenance(results)


if __name__ == "__main__":
    main()
