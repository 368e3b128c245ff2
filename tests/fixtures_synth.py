"""Synthetic-region fixtures (owned by the generator area)."""
