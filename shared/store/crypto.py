"""Encryption at rest of a PC's local store: SQLCipher 4 (``sqlcipher3``) with a random 256-bit key
held by the OS key store (``keyring``: Windows Credential Manager / DPAPI, macOS Keychain, Secret
Service on Linux), never on the disk beside the file.

A store opened with a key is an SQLCipher database (every page AES-256 encrypted and HMAC-checked),
with the same settings as a plain one (WAL, ``synchronous=FULL``, busy timeout; the store's one writer
thread is unchanged). A plain store found where a key is given is converted in place, outbox included
(``sqlcipher_export`` into a new file, then an atomic rename). Where no OS key store is usable, the
store stays plain and ``key_problem`` says so (the README tells IT to give such PCs disk encryption).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import keyring
import keyring.errors

log = logging.getLogger(__name__)

KEY_SERVICE = "ClinicSuite-store"
_PLAIN_HEADER = b"SQLite format 3\x00"

try:  # the wheel bundles SQLCipher; a PC without it cannot open an encrypted store
    import sqlcipher3.dbapi2 as sqlcipher
except ImportError:  # pragma: no cover - a broken install
    sqlcipher = None

# Errors of both drivers, for callers that catch "the file is damaged or not a database" / any error.
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.DatabaseError,) + (
    (sqlcipher.DatabaseError,) if sqlcipher is not None else ()
)
DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,) + (
    (sqlcipher.Error,) if sqlcipher is not None else ()
)


class MissingKey(RuntimeError):
    """An encrypted file whose key this PC's key store does not have."""


def key_account(app: str, path: Path) -> str:
    """The key store entry of one store file (several data folders on a PC get several keys)."""
    digest = hashlib.sha256(str(Path(path).expanduser().resolve()).encode()).hexdigest()[:16]
    return f"{app}:{digest}"


def key_problem() -> str | None:
    """None when the OS key store can hold the store's key, else why not."""
    from shared.sync.tokens import keyring_problem  # the same test of the backend as for login tokens

    return keyring_problem()


def os_key(app: str, path: Path, *, create: bool = True) -> bytes | None:
    """The store's key from the OS key store (made on first use if ``create``); None without a usable
    key store, or when there is no key and ``create`` is False."""
    if key_problem() is not None:
        return None
    account = key_account(app, path)
    try:
        stored = keyring.get_password(KEY_SERVICE, account)
        if stored:
            return bytes.fromhex(stored)
        if not create:
            return None
        key = secrets.token_bytes(32)
        keyring.set_password(KEY_SERVICE, account, key.hex())
        return key
    except keyring.errors.KeyringError as error:
        log.warning("the OS key store refused the local database key: %s", error)
        return None


def forget_os_key(app: str, path: Path) -> None:
    with contextlib.suppress(keyring.errors.PasswordDeleteError, keyring.errors.KeyringError):
        keyring.delete_password(KEY_SERVICE, key_account(app, path))


def is_plain(path: Path) -> bool:
    """Whether ``path`` is an unencrypted SQLite file (False for a missing or encrypted one)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == _PLAIN_HEADER
    except FileNotFoundError:
        return False


def _key_pragma(key: bytes) -> str:
    return f"PRAGMA key = \"x'{key.hex()}'\""


def raw_connect(path: Path | str, key: bytes | None, *, timeout: float = 10.0, **kwargs: Any) -> Any:
    """A DB-API connection to ``path``: SQLCipher keyed with ``key``, or plain sqlite3 without one."""
    if key is None:
        return sqlite3.connect(str(path), timeout=timeout, **kwargs)
    if sqlcipher is None:
        raise RuntimeError("sqlcipher3 is not installed: an encrypted local database cannot be opened")
    conn = sqlcipher.connect(str(path), timeout=timeout, **kwargs)
    conn.execute(_key_pragma(key))
    return conn


def encrypt_in_place(path: Path, key: bytes) -> None:
    """Convert the plain store at ``path`` (closed by every process) to SQLCipher under ``key``; every
    table comes along (confirmed rows, outbox, sync state). A crash leaves either file whole."""
    if sqlcipher is None:
        raise RuntimeError("sqlcipher3 is not installed")
    plain = sqlite3.connect(str(path))
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        version = int(plain.execute("PRAGMA user_version").fetchone()[0])
    finally:
        plain.close()
    target = path.with_name(path.name + ".encrypting")
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    conn = sqlcipher.connect(str(path), isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS encrypted KEY ?", (str(target), f"x'{key.hex()}'"))
        conn.execute("SELECT sqlcipher_export('encrypted')")
        conn.execute(f"PRAGMA encrypted.user_version = {version}")
        conn.execute("DETACH DATABASE encrypted")
    finally:
        conn.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())
    for side in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        side.unlink(missing_ok=True)
    os.replace(target, path)
    log.info("local database %s is now encrypted", path)


def key_of(file: Path, *, live: Path) -> bytes | None:
    """The key ``file`` (the live store ``live`` or a backup of it) is encrypted under, from the OS key
    store; None for a plain or missing file. Backups are encrypted under their live store's key."""
    if not file.exists() or is_plain(file):
        return None
    key = os_key(live.stem, live, create=False)
    if key is None:
        raise MissingKey(f"{file} is encrypted and this PC's key store has no key for {live}")
    return key


def connect_file(file: Path, *, live: Path, timeout: float = 30.0) -> Any:
    """A plain DB-API connection to a store file or a backup of it, encrypted or not (tools: backup,
    restore, updates)."""
    return raw_connect(file, key_of(file, live=live), timeout=timeout)


def copy_database(source: Path, target: Path, *, live: Path) -> None:
    """Copy ``source`` over ``target`` with the online backup API, keeping ``source``'s encryption
    (an encrypted copy stays under the same key). A ``target`` of the other kind is replaced."""
    key = key_of(source, live=live)
    if target.exists() and (is_plain(target) == (key is not None)):
        for side in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            side.unlink(missing_ok=True)
    src, dst = raw_connect(source, key, timeout=30.0), raw_connect(target, key, timeout=30.0)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
