"""Doctor workstation app (built in its own issue)."""
