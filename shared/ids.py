"""Identifiers: client-generated time-ordered UUIDs (v7) and stable ids for reference data."""

from __future__ import annotations

import uuid

import uuid6

_REFERENCE_NAMESPACE = uuid.UUID("5b0c7c8e-2f1d-4c55-9a53-3b1f6a0c2d11")


def new_id() -> str:
    """A new UUIDv7 as text; sortable by creation time, safe to make offline on any PC."""
    return str(uuid6.uuid7())


def reference_id(kind: str, code: str) -> str:
    """A stable UUIDv5 for reference data keyed by its code, so every seed gives the same ids."""
    return str(uuid.uuid5(_REFERENCE_NAMESPACE, f"{kind}:{code}"))
