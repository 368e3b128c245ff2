"""Silver: bronze rows conformed to their year's schema, validated, pseudonymised.

    from cslake.silver import build_silver
    report = build_silver(lake)
"""

from cslake.silver.build import SilverReport, silver_tables
from cslake.silver.incremental import build_silver  # incremental by default; full=True: build.build_silver

__all__ = ["SilverReport", "build_silver", "silver_tables"]
