"""Link silver records into persons: spine, persons, conflicts, journeys.

    spark-submit jobs/linkage.py [--lake LAKE]
    cslake build linkage [--lake LAKE]

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("linkage")
