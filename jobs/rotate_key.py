"""Re-pseudonymise a lake under a new key: silver whole, linkage, gold and the scores, in one go.

    CSLAKE_HASH_KEY_FILE=<new key> spark-submit jobs/rotate_key.py [--lake LAKE] --old-key-file <present key>
    cslake rotate-key [--lake LAKE] --old-key-file <present key> [--research DIR]

Options, help and the function called: cslake.stages (the registry the CLI is built from too).
"""

import _bootstrap  # noqa: F401  (lib/ on sys.path for spark-submit from a checkout)

from cslake.stages import job_main

if __name__ == "__main__":
    job_main("rotate_key")
