"""Delta maintenance: OPTIMIZE (compact small files) and/or VACUUM (delete unreferenced files).

    spark-submit jobs/maintain.py [--optimize] [--vacuum --retain-hours N] [--table T ...] [--lake LAKE]
    cslake maintain --optimize --vacuum

On Spark + Delta this runs Delta's OPTIMIZE / VACUUM SQL; on Sail, delta-rs does it.

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("maintain")
