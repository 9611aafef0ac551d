"""Security helpers (Qt-free): offline password verifiers; signing keys and keyring access live here too."""

from __future__ import annotations

from shared.security.verifier import (
    JsonFileVerifierStore,
    MemoryVerifierStore,
    OfflineVerifier,
    VerifierRecord,
    VerifierStore,
)

__all__ = [
    "JsonFileVerifierStore",
    "MemoryVerifierStore",
    "OfflineVerifier",
    "VerifierRecord",
    "VerifierStore",
]
