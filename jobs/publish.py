"""Publish from the gold schema: data packs per LA and for the region, Parquet/CSV exports
for BI, the k-anonymous research extract.

    spark-submit jobs/publish.py packs    [--lake LAKE] [--out reports/packs] [--las 201,202]
    spark-submit jobs/publish.py export   [--lake LAKE] [--out exports] [--formats parquet,csv]
    spark-submit jobs/publish.py research [--lake LAKE] [--out research] [--k 10]
    cslake publish packs ...

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("publish")
