"""Land the raw drop zone into bronze.

    spark-submit jobs/land.py [RAW_DIR] [--lake LAKE]
    cslake run land [RAW_DIR] [--lake LAKE]

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("land")
