"""Spark fixtures (owned by the engine/lake area)."""
