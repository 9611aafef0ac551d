"""Failed-login throttling that nobody outside can turn against the clinic.

Three kinds of counters (rows of ``login_throttle``), each counting failures in a window and blocking
for a while once it reaches its limit:

- per **source** address: a machine that keeps guessing is refused (429) before any password hash is
  computed, whatever account it tries; its counter is never cleared by a success (a valid account must
  not buy more guesses at another);
- per **account from elsewhere**: failures from PCs the account never logged in from lock the account
  for those PCs only;
- per **account on a known PC**: a PC the account has logged in from before proves it with the secret
  it sent then (``known_device``); its failures count apart, so failures from elsewhere never lock the
  account out of the PCs its owner uses.

A ``security_admin`` clears an account's or a source's counters (``unlock``). Every function works in
the caller's transaction; times are UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, or_, select, update

from server_stub.db.tables import known_device, login_throttle, staff_credential


@dataclass(frozen=True)
class ThrottlePolicy:
    """Limits: ``account_failures`` in a row lock an account (from elsewhere, or on one known PC) for
    ``lockout``; ``source_failures`` within ``source_window`` block a source for ``source_block``."""

    account_failures: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    source_failures: int = 30
    source_window: dt.timedelta = dt.timedelta(minutes=15)
    source_block: dt.timedelta = dt.timedelta(minutes=15)


def source_key(source: str) -> str:
    return f"source:{source}"[:255]


def elsewhere_key(staff_id: str) -> str:
    return f"account:{staff_id}"[:255]


def device_key(staff_id: str, device_id: str) -> str:
    return f"device:{staff_id}:{device_id}"[:255]


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def blocked_until(conn: Connection, key: str, now: dt.datetime) -> dt.datetime | None:
    """When ``key`` stops being blocked, or None if it is not blocked now."""
    until = conn.execute(
        select(login_throttle.c.blocked_until).where(login_throttle.c.key == key)
    ).scalar_one_or_none()
    return until if until is not None and until > now else None


def record_failure(
    conn: Connection, key: str, now: dt.datetime, *, limit: int, window: dt.timedelta, block: dt.timedelta
) -> bool:
    """Count a failure for ``key``; True if it is blocked now (the counter starts again after a block)."""
    row = conn.execute(select(login_throttle).where(login_throttle.c.key == key).with_for_update()).first()
    if (
        row is None
        or row.window_start + window <= now
        or (row.blocked_until is not None and row.blocked_until <= now)
    ):
        failures, start = 1, now
    else:
        failures, start = row.failures + 1, row.window_start
    until = now + block if failures >= limit else None
    values = {
        "failures": 0 if until else failures,
        "window_start": now if until else start,
        "blocked_until": until if until else (row.blocked_until if row is not None else None),
    }
    if row is None:
        conn.execute(insert(login_throttle).values(key=key, **values))
    else:
        conn.execute(update(login_throttle).where(login_throttle.c.key == key).values(**values))
    return until is not None


def clear(conn: Connection, key: str) -> None:
    conn.execute(delete(login_throttle).where(login_throttle.c.key == key))


def is_known_device(conn: Connection, *, staff_id: str, device_id: str, secret: str | None) -> bool:
    """True when this PC logged in as this account before and presents the secret it sent then."""
    if not secret:
        return False
    stored = conn.execute(
        select(known_device.c.secret_hash).where(
            known_device.c.staff_id == staff_id, known_device.c.device_id == device_id
        )
    ).scalar_one_or_none()
    return stored is not None and stored == secret_hash(secret)


def remember_device(
    conn: Connection, *, staff_id: str, device_id: str, secret: str | None, now: dt.datetime
) -> None:
    """After a successful login: this PC (with this secret) is known for this account from now on."""
    if not secret:
        return
    changed = conn.execute(
        update(known_device)
        .where(known_device.c.staff_id == staff_id, known_device.c.device_id == device_id)
        .values(secret_hash=secret_hash(secret), last_login_at=now)
    ).rowcount
    if not changed:
        conn.execute(
            insert(known_device).values(
                staff_id=staff_id,
                device_id=device_id,
                secret_hash=secret_hash(secret),
                first_login_at=now,
                last_login_at=now,
            )
        )


def account_key(conn: Connection, *, staff_id: str, device_id: str, device_secret: str | None) -> str:
    """The counter a login attempt for this account from this PC uses."""
    if is_known_device(conn, staff_id=staff_id, device_id=device_id, secret=device_secret):
        return device_key(staff_id, device_id)
    return elsewhere_key(staff_id)


def unlock_account(conn: Connection, staff_id: str) -> int:
    """Clear every lock and failure count of an account (from elsewhere and on each PC); returns how
    many counters were cleared."""
    cleared = conn.execute(
        delete(login_throttle).where(
            or_(
                login_throttle.c.key == elsewhere_key(staff_id),
                login_throttle.c.key.startswith(f"device:{staff_id}:", autoescape=True),
            )
        )
    ).rowcount
    conn.execute(
        update(staff_credential)
        .where(staff_credential.c.staff_id == staff_id)
        .values(failed_count=0, locked_until=None)
    )
    return int(cleared or 0)


def unlock_source(conn: Connection, source: str) -> int:
    cleared = conn.execute(delete(login_throttle).where(login_throttle.c.key == source_key(source)))
    return int(cleared.rowcount or 0)
