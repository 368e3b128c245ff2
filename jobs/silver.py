"""Build silver from bronze: typed, validated, pseudonymised; bad rows to quarantine.

    CSLAKE_HASH_KEY_FILE=~/.config/cslake/keys/<lake>.key spark-submit jobs/silver.py [--lake LAKE] [--force]
    cslake build silver [--lake LAKE] [--force]

The pseudonymisation key comes from $CSLAKE_HASH_KEY or the file named by
$CSLAKE_HASH_KEY_FILE (on a cluster, make it available to every executor too).

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("silver")
