"""Silver: bronze rows conformed to their year's schema, validated, pseudonymised.

    from cslake.silver import build_silver
    report = build_silver(lake)
"""

from cslake.silver.build import SilverReport, build_silver, silver_tables

__all__ = ["SilverReport", "build_silver", "silver_tables"]
