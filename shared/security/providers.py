"""Signature providers: one adapter per signature algorithm, behind one interface.

Every signature the suite makes or checks goes through a ``SignatureProvider`` chosen by the algorithm
recorded with the key (``SigningKey.algorithm``) and with each signature (``signature_algorithm`` on
the signed row). Today there is one provider, ``Ed25519Provider`` ("ed25519", the ``cryptography``
package). A licensed CA's signature (a certificate-backed RSA/SM2 key in a USB token, the vendor's
SDK) or a bare SM2 provider (GB/T 32918) plugs in by implementing the same five methods and calling
``register_provider``; nothing else in the suite names an algorithm.

``private`` is the provider's own private-key material: raw bytes for Ed25519 (kept sealed in the OS
key store by ``shared.security.device_keys``); a hardware-token provider would return a handle (a
certificate serial, say) from ``generate`` and look the key up in the token in ``sign``.
All methods are pure and thread-safe.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

DEFAULT_ALGORITHM: Final = "ed25519"
MAX_ALGORITHM_LENGTH: Final = 15  # the column width (SigningKey.algorithm, *_signature_algorithm)


@dataclass(frozen=True)
class KeyPair:
    """A fresh key: ``private`` (provider material, never leaves the device) and ``public_key`` (text)."""

    algorithm: str
    private: bytes
    public_key: str


class SignatureProvider(Protocol):
    """One signature algorithm. ``public_key`` and signatures are text (base64 for Ed25519)."""

    algorithm: str

    def generate(self) -> KeyPair: ...

    def public_key_of(self, private: bytes) -> str: ...

    def sign(self, private: bytes, data: bytes) -> str: ...

    def verify(self, public_key: str, data: bytes, signature: str) -> bool: ...

    def valid_public_key(self, public_key: str) -> bool: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class Ed25519Provider:
    """Ed25519 (RFC 8032): 32-byte raw keys and 64-byte signatures, base64 on the wire."""

    algorithm = "ed25519"

    def generate(self) -> KeyPair:
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return KeyPair(self.algorithm, raw, self.public_key_of(raw))

    def public_key_of(self, private: bytes) -> str:
        key = Ed25519PrivateKey.from_private_bytes(private)
        return _b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, private: bytes, data: bytes) -> str:
        return _b64(Ed25519PrivateKey.from_private_bytes(private).sign(data))

    def verify(self, public_key: str, data: bytes, signature: str) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(_unb64(public_key)).verify(_unb64(signature), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def valid_public_key(self, public_key: str) -> bool:
        try:
            raw = _unb64(public_key)
        except ValueError:
            return False
        return len(raw) == 32


_PROVIDERS: dict[str, SignatureProvider] = {}


def register_provider(provider: SignatureProvider) -> None:
    """Make ``provider`` available under its ``algorithm`` (a CA or SM2 adapter at start-up)."""
    if not provider.algorithm or len(provider.algorithm) > MAX_ALGORITHM_LENGTH:
        raise ValueError(f"algorithm name must have 1..{MAX_ALGORITHM_LENGTH} characters")
    _PROVIDERS[provider.algorithm] = provider


def provider_for(algorithm: str) -> SignatureProvider | None:
    """The provider of ``algorithm``, or None when this build has none (the caller refuses)."""
    return _PROVIDERS.get(algorithm)


def known_algorithms() -> tuple[str, ...]:
    return tuple(sorted(_PROVIDERS))


def verify_signature(algorithm: str, public_key: str, data: bytes, signature: str) -> bool:
    """Whether ``signature`` over ``data`` verifies under ``public_key`` with ``algorithm``; an unknown
    algorithm never verifies."""
    provider = provider_for(algorithm)
    return provider is not None and provider.verify(public_key, data, signature)


def key_fingerprint(public_key: str, *, groups: int = 8) -> str:
    """SHA-256 of the public key's bytes as upper-case hex in groups of four (any algorithm)."""
    try:
        raw = _unb64(public_key)
    except ValueError:
        raw = public_key.encode("utf-8")
    digest = hashlib.sha256(raw).hexdigest().upper()
    return " ".join(digest[i : i + 4] for i in range(0, 4 * groups, 4))


register_provider(Ed25519Provider())
