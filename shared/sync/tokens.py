"""Login tokens kept in the OS keyring (``keyring``), or in an explicitly configured encrypted file.

Where a PC has no usable keyring (headless Linux without D-Bus), ``TokenStore.problem`` says so plainly
and the app should show it. Only if a fallback file (setting or ``$CLINIC_TOKEN_FILE``) *and* a key file
kept apart from it (``$CLINIC_TOKEN_KEY_FILE``: another volume, a path provisioned at boot) are
configured are tokens written there, encrypted under that key; otherwise the token lives in memory only
and the user logs in again after a restart. The key is never derived from what the token file or this
PC's public identifiers hold (``/etc/machine-id`` is world-readable).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from pathlib import Path

import keyring
import keyring.errors
from cryptography.fernet import Fernet, InvalidToken

from shared.errors import SuiteError

log = logging.getLogger(__name__)

SERVICE = "ClinicSuite"
TOKEN_FILE_ENV = "CLINIC_TOKEN_FILE"
TOKEN_KEY_FILE_ENV = "CLINIC_TOKEN_KEY_FILE"


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
            f"Service such as GNOME Keyring or KWallet); set {TOKEN_FILE_ENV} and {TOKEN_KEY_FILE_ENV} (a key "
            "file kept apart from the token file) to keep the login in an encrypted file on this PC, otherwise "
            "you will log in again after each restart"
        )
    return None


class TokenKeyProblem(SuiteError):
    code = "token_key_unusable"


def _same_folder(a: Path, b: Path) -> bool:
    return a.expanduser().resolve().parent == b.expanduser().resolve().parent


class EncryptedTokenFile:
    """Tokens in one JSON file, each encrypted with Fernet under a random 256-bit key kept in a
    *separate* key file (``key_path``; not in the token file's folder, readable by its owner only), so
    the token file alone (a copied folder, a backup, a stolen disk image of the data folder) gives
    nothing. Files written by earlier versions (key derived from the machine id and a salt stored in the
    file itself, so anyone who could read the file could use the token) are not read: their tokens are
    dropped and the user logs in again once. Written atomically, readable only by the user."""

    VERSION = 2

    def __init__(self, path: Path, key_path: Path) -> None:
        if _same_folder(path, key_path):
            raise TokenKeyProblem(
                f"the token key file {key_path} must not be in the token file's folder ({path.parent}): "
                "keep it on another volume or a boot-provisioned path"
            )
        self.path = path
        self.key_path = key_path

    def _key(self) -> bytes:
        try:
            raw = self.key_path.read_bytes().strip()
        except FileNotFoundError:
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            key = Fernet.generate_key()
            with contextlib.suppress(FileExistsError):
                fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(key)
                    handle.flush()
                    os.fsync(handle.fileno())
            raw = self.key_path.read_bytes().strip()
        if os.name == "posix" and stat.S_IMODE(self.key_path.stat().st_mode) & 0o077:
            raise TokenKeyProblem(f"the token key file {self.key_path} is readable by others: chmod 600 it")
        return raw

    def _load(self) -> dict[str, object]:
        empty: dict[str, object] = {"version": self.VERSION, "tokens": {}}
        try:
            content = dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return empty
        except (OSError, ValueError) as error:
            log.warning("token file %s unreadable (%s); starting a new one", self.path, error)
            return empty
        if content.get("version") != self.VERSION:
            log.warning("token file %s is of an older, unsafe kind; its logins are dropped", self.path)
            return empty
        return content

    def _fernet(self) -> Fernet:
        return Fernet(self._key())

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
            return self._fernet().decrypt(str(sealed).encode()).decode()
        except InvalidToken:
            log.warning("token in %s was sealed with another key; ignoring it", self.path)
            return None

    def set(self, account: str, token: str) -> None:
        content = self._load()
        tokens = dict(content.get("tokens") or {})  # type: ignore[call-overload]
        tokens[account] = self._fernet().encrypt(token.encode()).decode()
        content["tokens"] = tokens
        self._save(content)

    def delete(self, account: str) -> None:
        if not self.path.exists():
            return
        content = self._load()  # an older, unsafe file is rewritten without its tokens
        tokens = dict(content.get("tokens") or {})  # type: ignore[call-overload]
        tokens.pop(account, None)
        content["tokens"] = tokens
        self._save(content)


class TokenStore:
    """Where a PC keeps its login token: the OS keyring, else the configured fallback file, else memory."""

    def __init__(
        self,
        *,
        service: str = SERVICE,
        fallback_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.service = service
        configured = fallback_file or os.environ.get(TOKEN_FILE_ENV)
        key = key_file or os.environ.get(TOKEN_KEY_FILE_ENV)
        self.fallback: EncryptedTokenFile | None = None
        self._memory: dict[str, str] = {}
        self.keyring_problem = keyring_problem()
        if configured and not key:
            log.warning(
                "token file %s configured without %s: the login is not kept across restarts (a key stored "
                "beside the file would let anyone who can read it use the login)",
                configured,
                TOKEN_KEY_FILE_ENV,
            )
        elif configured and key:
            try:
                self.fallback = EncryptedTokenFile(Path(configured).expanduser(), Path(key).expanduser())
            except TokenKeyProblem as error:
                log.warning("%s; the login is not kept across restarts", error.message)
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
