"""Triage desk app and waiting-room display (built in its own issue)."""
