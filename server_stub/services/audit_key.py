"""The audit chain's key: a secret kept outside the database, so a database writer who rewrites
entries cannot recompute their seals (HMAC-SHA256).

The key file (JSON, owner-only permissions) is created at the server's first start
(``ensure``): a random 256-bit key and an anchor of the chain as it stood then (``legacy_until``, the
last entry's id, and ``legacy_head``, its hash). Entries up to the anchor were chained with plain
SHA-256 (legacy) and are checked against the anchor; every later entry must carry the keyed seal.

Where: ``$CLINIC_AUDIT_KEY_FILE``, else beside an SQLite database (``<file>.audit-key``), else
``var/audit-<database>.key``. Back it up apart from the database: without it no later entry can be
verified (a restore of the database needs the key file of the same site).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select
from sqlalchemy.engine import URL, make_url

from server_stub.db.tables import audit_head

log = logging.getLogger(__name__)

KEY_FILE_ENV = "CLINIC_AUDIT_KEY_FILE"


@dataclass(frozen=True)
class AuditKey:
    key: bytes
    key_id: str
    legacy_until: int
    legacy_head: str
    path: Path


def key_path(url: str | URL) -> Path:
    """Where the key of the database at ``url`` lives."""
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured).expanduser()
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        database = Path(parsed.database)
        return database.with_name(database.name + ".audit-key")
    identity = f"{parsed.get_backend_name()}://{parsed.host}:{parsed.port}/{parsed.database}"
    return Path("var") / f"audit-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.key"


_cache: dict[Path, AuditKey] = {}


def load(path: Path) -> AuditKey | None:
    """The key at ``path`` (cached per process once found), or None if there is none yet."""
    cached = _cache.get(path)
    if cached is not None:
        return cached
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.error("audit key %s is readable by others (mode %o): chmod 600 it", path, mode)
    content = json.loads(raw)
    key = base64.b64decode(content["key"])
    found = AuditKey(
        key=key,
        key_id=hashlib.sha256(key).hexdigest()[:12],
        legacy_until=int(content["legacy_until"]),
        legacy_head=str(content["legacy_head"]),
        path=path,
    )
    _cache[path] = found
    return found


def for_connection(conn: Connection) -> AuditKey | None:
    return load(key_path(conn.engine.url))


def ensure(conn: Connection, path: Path | None = None) -> AuditKey:
    """Load the key, or create it anchored at the chain's current head (first start). Safe when
    several processes start at once: the file appears atomically and one creator wins."""
    path = path or key_path(conn.engine.url)
    found = load(path)
    if found is not None:
        return found
    head = conn.execute(
        select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)
    ).one()
    content = {
        "version": 1,
        "key": base64.b64encode(secrets.token_bytes(32)).decode(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "legacy_until": int(head.last_id),
        "legacy_head": str(head.last_hash),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(content))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic and refuses to replace: another process's key wins
    finally:
        tmp.unlink(missing_ok=True)
    created = load(path)
    if created is None:  # pragma: no cover - the link above succeeded or another one did
        raise RuntimeError(f"audit key {path} could not be created")
    log.info("audit key %s created; entries up to %s are legacy (unkeyed)", path, created.legacy_until)
    return created
