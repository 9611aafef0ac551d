"""Login tokens kept in the OS keyring (``keyring``), or in an explicitly configured encrypted file.

Where a PC has no usable keyring (headless Linux without D-Bus), ``TokenStore.problem`` says so plainly
and the app should show it. Only if a fallback file is configured (setting or ``$CLINIC_TOKEN_FILE``)
are tokens written there, encrypted with a key derived from this machine's id; without one the token
lives in memory only and the user logs in again after a restart.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import sys
from pathlib import Path

import keyring
import keyring.errors
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.errors import SuiteError

log = logging.getLogger(__name__)

SERVICE = "ClinicSuite"
TOKEN_FILE_ENV = "CLINIC_TOKEN_FILE"


class KeyringUnavailable(SuiteError):
    code = "keyring_unavailable"


def keyring_problem() -> str | None:
    """None when the configured keyring backend can store secrets, else a plain explanation."""
    try:
        backend = keyring.get_keyring()
    except Exception as error:  # noqa: BLE001 - any failure to load a backend means "no keyring"
        return f"the OS keyring could not be loaded ({error})"
    priority = getattr(backend, "priority", 0)
    module = type(backend).__module__
    if (
        module.startswith("keyring.backends.fail")
        or module.startswith("keyring.backends.null")
        or priority <= 0
    ):
        return (
            "no usable OS keyring on this PC (on Linux this needs a desktop session with D-Bus and a Secret "
            f"Service such as GNOME Keyring or KWallet); set {TOKEN_FILE_ENV} or the token file setting to keep "
            "the login in an encrypted file on this PC, otherwise you will log in again after each restart"
        )
    return None


def _machine_secret() -> bytes:
    """A stable per-machine value (not secret against a local administrator, but ties the file to the PC)."""
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        with contextlib.suppress(OSError):
            value = Path(candidate).read_text().strip()
            if value:
                return value.encode()
    if sys.platform == "win32":
        with contextlib.suppress(OSError):
            import winreg

            key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography")
            return str(winreg.QueryValueEx(key, "MachineGuid")[0]).encode()
    import uuid

    return f"node-{uuid.getnode():x}".encode()


class EncryptedTokenFile:
    """Tokens in one JSON file, each encrypted with Fernet under a key derived (HKDF-SHA256) from the
    machine id and a random per-file salt. Written atomically, readable only by the user."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {"salt": base64.b64encode(secrets.token_bytes(16)).decode(), "tokens": {}}
        except (OSError, ValueError) as error:
            log.warning("token file %s unreadable (%s); starting a new one", self.path, error)
            return {"salt": base64.b64encode(secrets.token_bytes(16)).decode(), "tokens": {}}

    def _fernet(self, content: dict[str, object]) -> Fernet:
        salt = base64.b64decode(str(content["salt"]))
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"clinic-suite token file").derive(
            _machine_secret()
        )
        return Fernet(base64.urlsafe_b64encode(key))

    def _save(self, content: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(content))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def get(self, account: str) -> str | None:
        content = self._load()
        tokens = dict(content.get("tokens") or {})  # type: ignore[call-overload]
        sealed = tokens.get(account)
        if not sealed:
            return None
        try:
            return self._fernet(content).decrypt(str(sealed).encode()).decode()
        except InvalidToken:
            log.warning("token in %s was sealed on another machine; ignoring it", self.path)
            return None

    def set(self, account: str, token: str) -> None:
        content = self._load()
        tokens = dict(content.get("tokens") or {})  # type: ignore[call-overload]
        tokens[account] = self._fernet(content).encrypt(token.encode()).decode()
        content["tokens"] = tokens
        self._save(content)

    def delete(self, account: str) -> None:
        content = self._load()
        tokens = dict(content.get("tokens") or {})  # type: ignore[call-overload]
        if tokens.pop(account, None) is not None:
            content["tokens"] = tokens
            self._save(content)


class TokenStore:
    """Where a PC keeps its login token: the OS keyring, else the configured fallback file, else memory."""

    def __init__(
        self, *, service: str = SERVICE, fallback_file: str | os.PathLike[str] | None = None
    ) -> None:
        self.service = service
        configured = fallback_file or os.environ.get(TOKEN_FILE_ENV)
        self.fallback = EncryptedTokenFile(Path(configured).expanduser()) if configured else None
        self._memory: dict[str, str] = {}
        self.keyring_problem = keyring_problem()
        if self.keyring_problem:
            if self.fallback:
                log.warning(
                    "%s; using the configured token file %s", self.keyring_problem, self.fallback.path
                )
            else:
                log.warning("%s", self.keyring_problem)

    @property
    def problem(self) -> str | None:
        """A plain message for the user when tokens cannot be kept across restarts; None when all is well."""
        return None if self.fallback else self.keyring_problem

    @property
    def backend(self) -> str:
        if not self.keyring_problem:
            return f"keyring:{type(keyring.get_keyring()).__name__}"
        return f"file:{self.fallback.path}" if self.fallback else "memory"

    def load(self, account: str) -> str | None:
        if account in self._memory:
            return self._memory[account]
        if not self.keyring_problem:
            try:
                return keyring.get_password(self.service, account)
            except keyring.errors.KeyringError as error:
                log.warning("keyring read failed: %s", error)
        return self.fallback.get(account) if self.fallback else None

    def save(self, account: str, token: str) -> None:
        """Keep the token; if neither the keyring nor a fallback works it is kept in memory and
        ``KeyringUnavailable`` is raised so the caller can tell the user (the session still works)."""
        self._memory[account] = token
        if not self.keyring_problem:
            try:
                keyring.set_password(self.service, account, token)
                return
            except keyring.errors.KeyringError as error:
                log.warning("keyring write failed: %s", error)
                if not self.fallback:
                    raise KeyringUnavailable(f"the OS keyring refused to store the login: {error}") from error
        if self.fallback:
            self.fallback.set(account, token)
            return
        raise KeyringUnavailable(self.keyring_problem or "no keyring")

    def delete(self, account: str) -> None:
        self._memory.pop(account, None)
        if not self.keyring_problem:
            with contextlib.suppress(keyring.errors.PasswordDeleteError, keyring.errors.KeyringError):
                keyring.delete_password(self.service, account)
        if self.fallback:
            self.fallback.delete(account)
