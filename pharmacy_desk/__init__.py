"""Pharmacy desk app (built in its own issue)."""
