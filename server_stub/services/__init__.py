"""Server services: database functions free of HTTP concerns, keyword-only, one concept per module."""
