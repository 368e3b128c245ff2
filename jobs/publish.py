"""Publish from the gold schema: data packs per LA and for the region, and Parquet/CSV exports for BI.

    spark-submit jobs/publish.py packs  [--lake LAKE] [--out out/packs] [--las 201,202]
    spark-submit jobs/publish.py export [--lake LAKE] [--out out/export] [--formats parquet,csv]
    cslake run publish packs ...

Both read only the published ``gold`` tables (after disclosure control).
"""

import argparse
import logging

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.engine import get_spark
from cslake.lake import Lake


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Publish data packs or exports from the gold schema.")
    ap.add_argument("what", choices=["packs", "export"])
    ap.add_argument("--lake", default=None)
    ap.add_argument("--out", default=None, help="output folder (default: out/packs or out/export)")
    ap.add_argument("--las", default=None, help="packs: comma-separated DfE codes (default: every LA)")
    ap.add_argument("--formats", default="parquet,csv", help="export: parquet, csv or both")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lake = Lake(root=args.lake, spark=get_spark())
    if args.what == "packs":
        from cslake.publish.packs import publish_packs

        las = [c.strip() for c in args.las.split(",")] if args.las else None
        report = publish_packs(lake, args.out or "out/packs", las=las)
    else:
        from cslake.publish.export import export_gold

        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        report = export_gold(lake, args.out or "out/export", formats=formats)
    print(report.summary())


if __name__ == "__main__":
    main()
