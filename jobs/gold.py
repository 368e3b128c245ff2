"""Build gold from silver: restricted aggregates and their suppressed, published copies.

    spark-submit jobs/gold.py [--lake LAKE] [--tables riia_indicators,...] [--region london]
    cslake build gold [--lake LAKE] [--tables ...]

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("gold")
