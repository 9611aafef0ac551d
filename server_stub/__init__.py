"""Central API: FastAPI + SQLAlchemy server that clients sync against."""
