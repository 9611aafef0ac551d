"""One-time setup codes and the security administrator's account actions.

A new account (imported, or created in the window) has no password: it gets a setup code, shown once to
whoever issued it and handed to the person, who sets their own password with it at the first login
(``POST /auth/setup``). Only a slow hash of the code is kept; it works once, within
``ServerSettings.setup_code_hours`` (72 h by default); a new code replaces the old one. Resetting a
password removes the password (it stops working at once), revokes every token of the account and issues
a new code. Resetting a signing key revokes every key the person registered, on every PC: they register a
new one at their next signature; old signatures still verify (revoked keys stay listed).
Every function works in the caller's transaction, except the hashing ones, which are slow and run
outside any transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update

from server_stub.db.tables import ENTITY_TABLES, auth_token, staff_credential, staff_setup_code
from server_stub.db.tables import login_throttle as login_throttle_table
from server_stub.services import audit, login_throttle
from server_stub.services.entities import to_entity, write_entities
from shared.domain.entities import SigningKey, Staff
from shared.i18n import register

register(
    "auth.setup_failed",
    {
        "zh_CN": "用户名或设置码不正确，或设置码已使用、已过期。请向信息科索取新的设置码",
        "en": "Wrong username or setup code, or the code was used or has expired. Ask IT for a new code",
        "zh_TW": "用戶名或設定碼不正確，或設定碼已使用、已過期。請向資訊科索取新的設定碼",
    },
)

# No 0/O, 1/I/L: a code is read off paper and typed. 31 symbols, 12 of them: about 59 bits.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12
# Argon2id, lighter than passwords' (a code is random, not chosen), still slow for a stolen table.
_hasher = PasswordHasher(time_cost=2, memory_cost=8 * 1024, parallelism=1)
_DUMMY = _hasher.hash("no-such-code")


def new_code() -> str:
    """A fresh code as people see it: ``ABCD-EFGH-JKMN``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalise(code: str) -> str:
    """What a person typed, as compared: upper case, without spaces or dashes."""
    return "".join(c for c in code.upper() if c.isalnum())


def hash_code(code: str) -> str:
    return _hasher.hash(normalise(code))


def code_matches(code_hash: str | None, code: str) -> bool:
    """Slow; a missing hash costs the same as a real one (no probing for accounts by timing)."""
    try:
        return _hasher.verify(code_hash or _DUMMY, normalise(code)) and code_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class IssuedCode:
    code: str
    code_hash: str

    @classmethod
    def make(cls) -> IssuedCode:
        code = new_code()
        return cls(code, hash_code(code))


def store_code(
    conn: Connection,
    *,
    staff_id: str,
    code_hash: str,
    now: dt.datetime,
    ttl: dt.timedelta,
    issued_by: str | None,
) -> dt.datetime:
    """Keep ``code_hash`` as ``staff_id``'s one pending code (replacing any other); returns its expiry."""
    expires_at = now + ttl
    values = {"code_hash": code_hash, "issued_at": now, "expires_at": expires_at, "issued_by": issued_by}
    changed = conn.execute(
        update(staff_setup_code).where(staff_setup_code.c.staff_id == staff_id).values(**values, used_at=None)
    ).rowcount
    if not changed:
        conn.execute(insert(staff_setup_code).values(staff_id=staff_id, **values))
    return expires_at


def pending_hash(conn: Connection, staff_id: str) -> str | None:
    return conn.execute(
        select(staff_setup_code.c.code_hash).where(staff_setup_code.c.staff_id == staff_id)
    ).scalar_one_or_none()


def code_usable(conn: Connection, *, staff_id: str, code_hash: str, now: dt.datetime) -> str:
    """Why the code ``code_hash`` (checked beforehand) cannot be used now: ``""`` when it can, else
    ``replaced``, ``used`` or ``expired`` (for the audit entry; the person hears one message for all)."""
    row = conn.execute(
        select(staff_setup_code).where(staff_setup_code.c.staff_id == staff_id).with_for_update()
    ).first()
    if row is None or row.code_hash != code_hash:
        return "replaced"
    if row.used_at is not None:
        return "used"
    if row.expires_at <= now:
        return "expired"
    return ""


def mark_used(conn: Connection, *, staff_id: str, now: dt.datetime) -> None:
    conn.execute(update(staff_setup_code).where(staff_setup_code.c.staff_id == staff_id).values(used_at=now))


def revoke_tokens(conn: Connection, *, staff_id: str, now: dt.datetime) -> list[str]:
    """Revoke every live token of ``staff_id``; returns their hashes (to forget in the token cache)."""
    hashes = list(
        conn.execute(
            select(auth_token.c.token_hash).where(
                auth_token.c.staff_id == staff_id, auth_token.c.revoked_at.is_(None)
            )
        ).scalars()
    )
    if hashes:
        conn.execute(
            update(auth_token)
            .where(auth_token.c.staff_id == staff_id, auth_token.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return hashes


def reset_password(
    conn: Connection,
    *,
    staff: Staff,
    code_hash: str,
    now: dt.datetime,
    ttl: dt.timedelta,
    by: Staff | None,
    device_id: str | None,
) -> tuple[dt.datetime, list[str]]:
    """The account's password removed, its tokens revoked, its login locks cleared and a new setup code
    pending. Returns the code's expiry and the revoked tokens' hashes. Audited (never the code)."""
    had_password = conn.execute(
        delete(staff_credential).where(staff_credential.c.staff_id == staff.id)
    ).rowcount
    revoked = revoke_tokens(conn, staff_id=staff.id, now=now)
    login_throttle.unlock_account(conn, staff.id)
    expires_at = store_code(
        conn, staff_id=staff.id, code_hash=code_hash, now=now, ttl=ttl, issued_by=by.id if by else None
    )
    audit.append(
        conn,
        at=now,
        action="staff.reset_password",
        outcome="ok",
        staff_id=by.id if by else None,
        username=by.username if by else None,
        device_id=device_id,
        target=staff.username,
        detail={
            "staff_id": staff.id,
            "had_password": bool(had_password),
            "tokens_revoked": len(revoked),
            "code_expires_at": expires_at.isoformat(),
        },
    )
    return expires_at, revoked


def reset_signing_keys(
    conn: Connection, *, staff: Staff, reason: str, now: dt.datetime, by: Staff, device_id: str | None
) -> list[str]:
    """Revoke every signing key ``staff`` registered that is still live, on every PC; returns their ids.
    The keys stay listed (revoked), so signatures made before now still verify. Audited."""
    table = ENTITY_TABLES[SigningKey.KIND]
    rows = conn.execute(
        select(table).where(
            table.c.staff_id == staff.id, table.c.revoked_at.is_(None), table.c.voided.is_(False)
        )
    ).all()
    keys = [to_entity(SigningKey, row) for row in rows]
    revoked = [
        key.model_copy(
            update={
                "version": key.version + 1,
                "revoked_at": now,
                "revoked_reason": reason[:200],
                "updated_at": now,
            }
        )
        for key in keys
    ]
    write_entities(conn, revoked)
    audit.append(
        conn,
        at=now,
        action="staff.reset_signing_key",
        outcome="ok",
        staff_id=by.id,
        username=by.username,
        device_id=device_id,
        target=staff.username,
        detail={"staff_id": staff.id, "revoked": [k.id for k in revoked], "reason": reason},
    )
    return [k.id for k in revoked]


@dataclass(frozen=True)
class AccountState:
    has_password: bool
    setup_code_expires_at: dt.datetime | None  # a pending, unused code's expiry
    locked: bool
    live_signing_keys: int


def account_states(conn: Connection, now: dt.datetime) -> dict[str, AccountState]:
    """Per staff id: password set, pending setup code, locked, live signing keys (no secret)."""
    with_password = set(conn.execute(select(staff_credential.c.staff_id)).scalars())
    codes = {
        row.staff_id: row.expires_at
        for row in conn.execute(select(staff_setup_code).where(staff_setup_code.c.used_at.is_(None)))
        if row.expires_at > now
    }
    locked: set[str] = set()
    for key, until in conn.execute(
        select(login_throttle_table.c.key, login_throttle_table.c.blocked_until).where(
            login_throttle_table.c.blocked_until.is_not(None)
        )
    ):
        if until > now and key.startswith(("account:", "device:")):
            locked.add(key.split(":")[1])
    keys = ENTITY_TABLES[SigningKey.KIND]
    live: dict[str, int] = {}
    for staff_id in conn.execute(
        select(keys.c.staff_id).where(keys.c.revoked_at.is_(None), keys.c.voided.is_(False))
    ).scalars():
        live[staff_id] = live.get(staff_id, 0) + 1
    staff_ids = set(conn.execute(select(ENTITY_TABLES[Staff.KIND].c.id)).scalars())
    return {
        staff_id: AccountState(
            has_password=staff_id in with_password,
            setup_code_expires_at=codes.get(staff_id),
            locked=staff_id in locked,
            live_signing_keys=live.get(staff_id, 0),
        )
        for staff_id in staff_ids
    }
