"""Generate a synthetic region into a raw drop zone.

    spark-submit jobs/generate.py --region london --years 2021-2025 --scale 0.1 --out raw
    cslake generate ...

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("generate")
