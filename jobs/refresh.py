"""Land what is new in the drop zone, then build silver (incremental), linkage and gold as needed.

    CSLAKE_HASH_KEY_FILE=~/.config/cslake/keys/<lake>.key spark-submit jobs/refresh.py [RAW] [--lake LAKE] [--full]
    cslake refresh [RAW] [--lake LAKE] [--full]

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("refresh")
