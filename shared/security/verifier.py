"""Offline password verifiers: let a recent user unlock a PC while the server is unreachable.

Contract
--------
After every successful *online* login the app calls ``OfflineVerifier.remember(username, password,
staff)``. That stores, per username, an Argon2id hash of the password (never the password), the
``Staff`` the server returned (as JSON) and the time of that login. Later, with the server down,
``verify(username, password)`` gives back that ``Staff`` when the password matches and the last online
login is at most ``max_age`` old (14 days by default); otherwise ``None``. ``max_failures`` wrong
offline attempts in a row forget the user, so the only way back is an online login (which the server
rate-limits and audits). Usernames compare case-insensitively after trimming, like a person types them.

Persistence goes through ``VerifierStore`` (three methods over ``VerifierRecord``), so the local store
can keep verifiers in its SQLite file; ``JsonFileVerifierStore`` is the stand-alone implementation:
one JSON file, written atomically, readable only by its owner. All methods are thread-safe and block
for the hash time (tens of milliseconds): call them from a worker thread, never the GUI thread.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from shared.domain.entities import Staff

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = dt.timedelta(days=14)
DEFAULT_MAX_FAILURES = 5


def normalize_username(username: str) -> str:
    return username.strip().casefold()


@dataclass(frozen=True)
class VerifierRecord:
    """What is kept per user; ``staff_json`` is ``Staff.model_dump_json()``, times are UTC."""

    username: str  # normalized (see normalize_username)
    password_hash: str  # Argon2id PHC string
    staff_json: str
    remembered_at: dt.datetime  # time of the last successful online login
    failed_attempts: int = 0  # wrong offline attempts since then

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["remembered_at"] = self.remembered_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> VerifierRecord:
        return cls(
            username=str(data["username"]),
            password_hash=str(data["password_hash"]),
            staff_json=str(data["staff_json"]),
            remembered_at=dt.datetime.fromisoformat(str(data["remembered_at"])),
            failed_attempts=int(str(data.get("failed_attempts", 0))),
        )


class VerifierStore(Protocol):
    """Where verifier records live; implementations must be safe to call from any one thread at a time."""

    def load(self, username: str) -> VerifierRecord | None: ...

    def save(self, record: VerifierRecord) -> None: ...

    def delete(self, username: str) -> None: ...


class MemoryVerifierStore:
    """Records in a dict: for tests and for kiosks that must not keep anything on disk."""

    def __init__(self) -> None:
        self._records: dict[str, VerifierRecord] = {}

    def load(self, username: str) -> VerifierRecord | None:
        return self._records.get(username)

    def save(self, record: VerifierRecord) -> None:
        self._records[record.username] = record

    def delete(self, username: str) -> None:
        self._records.pop(username, None)


class JsonFileVerifierStore:
    """All records in one JSON file (``{"version": 1, "users": {username: record}}``), replaced atomically."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            # A damaged file only costs an online login; keep it aside for inspection rather than crash.
            log.warning("offline verifier file %s is unreadable; ignoring it", self.path, exc_info=True)
            return {}
        users = data.get("users", {}) if isinstance(data, dict) else {}
        return users if isinstance(users, dict) else {}

    def _write(self, users: dict[str, dict[str, object]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".verifiers-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"version": 1, "users": users}, handle, ensure_ascii=False, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, username: str) -> VerifierRecord | None:
        with self._lock:
            raw = self._read().get(username)
        if raw is None:
            return None
        try:
            return VerifierRecord.from_json(raw)
        except (KeyError, ValueError, TypeError):
            log.warning("offline verifier for %r is malformed; ignoring it", username)
            return None

    def save(self, record: VerifierRecord) -> None:
        with self._lock:
            users = self._read()
            users[record.username] = record.to_json()
            self._write(users)

    def delete(self, username: str) -> None:
        with self._lock:
            users = self._read()
            if users.pop(username, None) is not None:
                self._write(users)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OfflineVerifier:
    """Remember a password after an online login; check it offline for ``max_age`` after that."""

    def __init__(
        self,
        store: VerifierStore,
        *,
        max_age: dt.timedelta = DEFAULT_MAX_AGE,
        max_failures: int = DEFAULT_MAX_FAILURES,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.max_age = max_age
        self.max_failures = max_failures
        # argon2-cffi's defaults are RFC 9106's low-memory profile (Argon2id, 64 MiB, 3 passes).
        self.hasher = hasher or PasswordHasher(type=Type.ID)
        self.clock = clock
        self._lock = threading.Lock()

    def remember(self, username: str, password: str, staff: Staff) -> None:
        """Store a fresh verifier; call only after the server accepted this password just now."""
        key = normalize_username(username)
        if not key or not password:
            raise ValueError("username and password must not be empty")
        if not staff.active:
            self.forget(username)
            return
        record = VerifierRecord(
            username=key,
            password_hash=self.hasher.hash(password),
            staff_json=staff.model_dump_json(),
            remembered_at=self.clock(),
        )
        with self._lock:
            self.store.save(record)

    def _usable(self, record: VerifierRecord | None) -> VerifierRecord | None:
        if record is None:
            return None
        age = self.clock() - record.remembered_at
        if age > self.max_age or age < -dt.timedelta(days=1):
            # Too old, or remembered "in the future" (the clock was wound back): make them log in online.
            return None
        return record

    def can_unlock(self, username: str) -> bool:
        """True if ``username`` has an unexpired verifier, i.e. offline unlock is worth offering."""
        with self._lock:
            return self._usable(self.store.load(normalize_username(username))) is not None

    def cached_staff(self, username: str) -> Staff | None:
        """The remembered staff record (no password check): for showing who may unlock."""
        with self._lock:
            record = self._usable(self.store.load(normalize_username(username)))
        return Staff.model_validate_json(record.staff_json) if record else None

    def verify(self, username: str, password: str) -> Staff | None:
        """The remembered ``Staff`` if the password matches an unexpired verifier, else ``None``."""
        key = normalize_username(username)
        with self._lock:
            record = self._usable(self.store.load(key))
            if record is None or not password:
                return None
            try:
                self.hasher.verify(record.password_hash, password)
            except (VerificationError, InvalidHashError):
                failures = record.failed_attempts + 1
                if failures >= self.max_failures:
                    log.warning("offline verifier for %r dropped after %d wrong passwords", key, failures)
                    self.store.delete(key)
                else:
                    self.store.save(replace(record, failed_attempts=failures))
                return None
            if record.failed_attempts or self.hasher.check_needs_rehash(record.password_hash):
                record = replace(record, failed_attempts=0, password_hash=self._rehash(record, password))
                self.store.save(record)
        return Staff.model_validate_json(record.staff_json)

    def _rehash(self, record: VerifierRecord, password: str) -> str:
        if self.hasher.check_needs_rehash(record.password_hash):
            return self.hasher.hash(password)
        return record.password_hash

    def forget(self, username: str) -> None:
        with self._lock:
            self.store.delete(normalize_username(username))
