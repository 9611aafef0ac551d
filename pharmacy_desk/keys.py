"""The pharmacist's signing key on this PC: the shared rules of ``shared.security.device_signing`` (the
key in the OS key store, one per person and PC, registered with the server while online), used by
the review screen and ``actions.review``."""

from __future__ import annotations

from shared.security.device_signing import DeviceSigner, KeyStatus, create_key, find_key

__all__ = ["DeviceSigner", "KeyStatus", "create_key", "find_key"]
