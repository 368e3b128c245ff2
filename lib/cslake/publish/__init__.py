"""Extracts the lake publishes to partners (research, other programmes)."""
