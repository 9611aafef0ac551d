"""Staff authentication: slow salted password hashes, lockout, bearer tokens bound to staff and device."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, bindparam, insert, select, update

from server_stub.db.tables import ENTITY_TABLES, auth_token, staff_credential
from server_stub.services import audit, login_throttle
from server_stub.services.entities import to_entity
from shared.domain.entities import Campus, Staff, works_at
from shared.errors import AuthFailed, NotFound, SuiteError
from shared.i18n import register, tr

register(
    "auth.campus_refused",
    {
        "zh_CN": "您未被分配到所选院区，不能在该院区登录；请选择您所在的院区",
        "en": "You are not assigned to the chosen campus; log in at a campus you work at",
        "zh_TW": "您未被分配到所選院區，不能在該院區登入；請選擇您所在的院區",
    },
)

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): slow for an attacker with a
# stolen table, yet a login burst of hundreds of staff at 08:00 stays affordable on a small server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _password_ok(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the staff member and the device the token was issued to. ``hub_id``: the staff
    member's mutations are relayed by that clinic hub (``/hub/relay``), not pushed with a token."""

    staff: Staff
    device_id: str
    campus_id: str | None
    token_hash: str
    expires_at: dt.datetime
    hub_id: str | None = None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.staff.roles)


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_at: dt.datetime
    staff: Staff
    campus_id: str | None


def _find_staff(conn: Connection, username: str) -> Staff | None:
    table = ENTITY_TABLES["staff"]
    row = conn.execute(select(table).where(table.c.username == username)).first()
    return None if row is None else to_entity(Staff, row)


@dataclass(frozen=True)
class PasswordCheck:
    """The slow Argon2 verdict, computed outside any write transaction so logins never hold the lock."""

    checked_hash: str | None
    matches: bool


def check_password(db_read: Connection, *, username: str, password: str) -> PasswordCheck:
    """Read the stored hash in the caller's short read-only transaction; close it, then call ``verify``."""
    staff = _find_staff(db_read, username)
    stored = None
    if staff is not None:
        stored = db_read.execute(
            select(staff_credential.c.password_hash).where(staff_credential.c.staff_id == staff.id)
        ).scalar_one_or_none()
    return PasswordCheck(checked_hash=stored, matches=False)


def verify(check: PasswordCheck, password: str) -> PasswordCheck:
    """Run Argon2 on the hash read by ``check_password`` (slow; no database connection held)."""
    if check.checked_hash is None:
        _password_ok(_DUMMY_HASH, password)  # same cost as a real check: no username probing by timing
        return check
    return PasswordCheck(checked_hash=check.checked_hash, matches=_password_ok(check.checked_hash, password))


def login(
    conn: Connection,
    *,
    username: str,
    password: str,
    checked: PasswordCheck | None = None,
    device_id: str,
    campus_id: str | None,
    now: dt.datetime,
    ttl: dt.timedelta,
    threshold: int,
    lockout: dt.timedelta,
    lang: str,
    source: str = "",
    device_secret: str | None = None,
    source_policy: login_throttle.ThrottlePolicy | None = None,
) -> LoginResult:
    """Check the password, count failures and lock the account after ``threshold`` in a row: from
    PCs it never logged in from, or on one known PC (``device_secret``), never one for the other
    (``login_throttle``). Every failure gets the same message (``login_failed``) and counts against
    ``source`` too.

    ``checked`` is the Argon2 verdict computed beforehand outside the write transaction (see
    ``check_password``/``verify``), so the write lock is held only for bookkeeping. Every attempt is audited. Raises AuthFailed with a message in ``lang``; the caller
    must commit the transaction even on failure so the failure count sticks.
    """
    staff = _find_staff(conn, username)
    credential = None
    if staff is not None:
        credential = conn.execute(
            select(staff_credential).where(staff_credential.c.staff_id == staff.id).with_for_update()
        ).first()
    if staff is None or credential is None:
        if checked is None:
            _password_ok(_DUMMY_HASH, password)  # same cost as a real check: no username probing by timing
        audit.append(
            conn, at=now, action="auth.login", outcome="unknown_user", username=username, device_id=device_id
        )
        raise login_failed(conn, source=source, policy=source_policy, now=now, lang=lang)
    counter = login_throttle.account_key(
        conn, staff_id=staff.id, device_id=device_id, device_secret=device_secret
    )
    if login_throttle.blocked_until(conn, counter, now) is not None:
        audit.append(
            conn,
            at=now,
            action="auth.login",
            outcome="locked",
            staff_id=staff.id,
            username=username,
            device_id=device_id,
        )
        raise login_failed(conn, source=source, policy=source_policy, now=now, lang=lang)
    if checked is not None and checked.checked_hash == credential.password_hash:
        matches = checked.matches
    else:  # no precomputed verdict, or the password changed meanwhile
        matches = _password_ok(credential.password_hash, password)
    if matches and (not staff.active or staff.voided):  # said only to someone who knows the password
        audit.append(
            conn,
            at=now,
            action="auth.login",
            outcome="inactive",
            staff_id=staff.id,
            username=username,
            device_id=device_id,
        )
        raise AuthFailed(tr("auth.inactive", lang))
    if not matches:
        locked_now = login_throttle.record_failure(
            conn, counter, now, limit=threshold, window=lockout, block=lockout
        )
        audit.append(
            conn,
            at=now,
            action="auth.login",
            outcome="locked_now" if locked_now else "bad_password",
            staff_id=staff.id,
            username=username,
            device_id=device_id,
            detail={"counter": counter.split(":", 1)[0], "source": source},
        )
        raise login_failed(conn, source=source, policy=source_policy, now=now, lang=lang)
    login_throttle.clear(conn, counter)
    login_throttle.remember_device(
        conn, staff_id=staff.id, device_id=device_id, secret=device_secret, now=now
    )
    allowed, chosen_campus = login_campus(conn, staff, campus_id)
    if not allowed:
        audit.append(
            conn,
            at=now,
            action="auth.login",
            outcome="campus_refused",
            staff_id=staff.id,
            username=username,
            device_id=device_id,
            detail={"campus_id": campus_id},
        )
        raise AuthFailed(tr("auth.campus_refused", lang), code="campus_refused")
    conn.execute(
        update(staff_credential).where(staff_credential.c.staff_id == staff.id).values(last_login_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires_at = now + ttl
    conn.execute(
        insert(auth_token).values(
            token_hash=_token_hash(token),
            staff_id=staff.id,
            device_id=device_id,
            campus_id=chosen_campus,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    audit.append(
        conn,
        at=now,
        action="auth.login",
        outcome="ok",
        staff_id=staff.id,
        username=username,
        device_id=device_id,
        detail={"campus_id": chosen_campus},
    )
    return LoginResult(token=token, expires_at=expires_at, staff=staff, campus_id=chosen_campus)


def login_campus(conn: Connection, staff: Staff, requested: str | None) -> tuple[bool, str | None]:
    """(allowed, campus) for a login: the campus asked for if the staff member is assigned to it and it
    exists (refused otherwise, one message for unassigned and unknown alike); none asked for: their
    home campus."""
    if requested is None:
        return True, staff.campus_id
    if not works_at(staff, requested):
        return False, None
    table = ENTITY_TABLES[Campus.KIND]
    found = conn.execute(select(table.c.id).where(table.c.id == requested, table.c.voided.is_(False))).first()
    return found is not None, requested


class SourceBlocked(SuiteError):
    """Too many failed logins from one source address: refused before any password is checked."""

    code = "too_many_attempts"


def login_failed(
    conn: Connection,
    *,
    source: str,
    policy: login_throttle.ThrottlePolicy | None,
    now: dt.datetime,
    lang: str,
) -> AuthFailed:
    """The one answer to every failed login (unknown user, wrong password, locked account): no count
    of attempts left, nothing that tells a real account from a made-up one. Counts against the source."""
    if source:
        policy = policy or login_throttle.ThrottlePolicy()
        login_throttle.record_failure(
            conn,
            login_throttle.source_key(source),
            now,
            limit=policy.source_failures,
            window=policy.source_window,
            block=policy.source_block,
        )
    return AuthFailed(tr("auth.login_failed", lang), code="login_failed")


def check_source(conn: Connection, *, source: str, now: dt.datetime, lang: str) -> None:
    """Refuse (``SourceBlocked``) a source that failed too often lately; cheap, before any hashing."""
    until = login_throttle.blocked_until(conn, login_throttle.source_key(source), now) if source else None
    if until is not None:
        raise SourceBlocked(
            tr("auth.source_blocked", lang, until=_local_clock(until)),
            detail={"retry_after": max(1, int((until - now).total_seconds()))},
        )


def unlock(
    conn: Connection,
    *,
    principal: Principal | None,
    username: str | None,
    source: str | None,
    now: dt.datetime,
) -> int:
    """A security administrator (``principal``; None: the ``clinic unlock-login`` command on the server)
    clears an account's login locks (from elsewhere and on every PC) and/or a source's block; audited.
    Returns how many counters were cleared; NotFound for an unknown username."""
    cleared = 0
    target_id = None
    if username:
        staff = _find_staff(conn, username)
        if staff is None:
            raise NotFound(f"no account {username!r}", code="unknown_account")
        target_id = staff.id
        cleared += login_throttle.unlock_account(conn, staff.id)
    if source:
        cleared += login_throttle.unlock_source(conn, source)
    audit.append(
        conn,
        at=now,
        action="auth.unlock",
        outcome="ok",
        staff_id=principal.staff.id if principal else None,
        username=principal.staff.username if principal else "clinic unlock-login",
        device_id=principal.device_id if principal else None,
        target=target_id or source,
        detail={"username": username, "source": source, "cleared": cleared},
    )
    return cleared


def _local_clock(instant: dt.datetime) -> str:
    return instant.astimezone().strftime("%Y-%m-%d %H:%M")


_TOKEN_BY_HASH = select(auth_token).where(auth_token.c.token_hash == bindparam("b_hash"))
_TOKENS_BY_HASH = select(auth_token).where(auth_token.c.token_hash.in_(bindparam("b_hashes", expanding=True)))


def _principal(token_row: Any, staff_row: Any, now: dt.datetime) -> Principal | str:
    """The principal of a token row and its staff row, or why the token is refused (an AuthFailed
    code): the token rules, in one place for ``authenticate`` and ``recheck``."""
    if token_row is None or token_row.revoked_at is not None:
        return "token_invalid"
    if token_row.expires_at <= now:
        return "token_expired"
    if staff_row is None:
        return "token_invalid"
    staff = to_entity(Staff, staff_row)
    if not staff.active or staff.voided:
        return "account_inactive"
    return Principal(
        staff=staff,
        device_id=token_row.device_id,
        campus_id=token_row.campus_id,
        token_hash=token_row.token_hash,
        expires_at=token_row.expires_at,
    )


_REFUSAL_MESSAGE = {
    "token_invalid": "auth.missing_token",
    "token_expired": "auth.expired",
    "account_inactive": "auth.inactive",
}


def authenticate(conn: Connection, *, token: str, now: dt.datetime, lang: str) -> Principal:
    """The principal behind a bearer token, or AuthFailed (code 'token_expired' when merely expired)."""
    row = conn.execute(_TOKEN_BY_HASH, {"b_hash": _token_hash(token)}).first()
    staff_rows = _staff_rows(conn, [] if row is None else [row.staff_id])
    found = _principal(row, None if row is None else staff_rows.get(row.staff_id), now)
    if isinstance(found, str):
        raise AuthFailed(tr(_REFUSAL_MESSAGE[found], lang), code=found)
    return found


def recheck(
    conn: Connection, token_hashes: Collection[str], now: dt.datetime
) -> tuple[list[Principal], set[str]]:
    """Re-check many cached tokens in one read (two statements): the principals still valid, and the
    hashes of the tokens now refused (revoked, expired, account deactivated)."""
    hashes = sorted(token_hashes)
    rows = {}
    for start in range(0, len(hashes), 900):  # under SQL parameter limits
        chunk = hashes[start : start + 900]
        rows.update({row.token_hash: row for row in conn.execute(_TOKENS_BY_HASH, {"b_hashes": chunk})})
    staff_rows = _staff_rows(conn, sorted({row.staff_id for row in rows.values()}))
    valid, refused = [], set()
    for token_hash in hashes:
        row = rows.get(token_hash)
        found = _principal(row, None if row is None else staff_rows.get(row.staff_id), now)
        if isinstance(found, str):
            refused.add(token_hash)
        else:
            valid.append(found)
    return valid, refused


_STAFF_BY_IDS = select(ENTITY_TABLES["staff"]).where(
    ENTITY_TABLES["staff"].c.id.in_(bindparam("b_ids", expanding=True))
)


def _staff_rows(conn: Connection, staff_ids: list[str]) -> dict[str, Any]:
    if not staff_ids:
        return {}
    return {row.id: row for row in conn.execute(_STAFF_BY_IDS, {"b_ids": staff_ids})}


class PrincipalCache:
    """Recently checked tokens, kept for a few seconds so a busy client does not cost two queries per
    request. Logout in this process forgets the token at once; other server processes behind the same
    database stop accepting it within ``ttl`` seconds. An entry past half its ``ttl`` is still served
    while one caller re-checks it in the background (``claim_refresh``), so tokens cached together (a
    clinic's PCs after a restart) do not all fall back to the database in the same second. Thread-safe."""

    def __init__(self, ttl: float = 5.0, size: int = 4096) -> None:
        self.ttl = dt.timedelta(seconds=ttl)
        self.size = size
        self._entries: dict[str, tuple[Principal, dt.datetime]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get(self, token: str, now: dt.datetime) -> Principal | None:
        with self._lock:
            entry = self._entries.get(_token_hash(token))
        if entry is None:
            return None
        principal, cached_at = entry
        if now - cached_at > self.ttl or principal.expires_at <= now:
            self.forget(principal.token_hash)
            return None
        return principal

    def claim_refresh(self, token_hash: str, now: dt.datetime) -> bool:
        """True (once, until ``put``, ``forget`` or ``release``) when the entry is past half its ttl and
        the caller should re-check the token."""
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None or token_hash in self._refreshing or now - entry[1] <= self.ttl / 2:
                return False
            self._refreshing.add(token_hash)
            return True

    def release(self, token_hash: str) -> None:
        with self._lock:
            self._refreshing.discard(token_hash)

    def put(self, principal: Principal, now: dt.datetime) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[principal.token_hash] = (principal, now)
            self._refreshing.discard(principal.token_hash)

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)
            self._refreshing.discard(token_hash)


def logout(conn: Connection, *, principal: Principal, now: dt.datetime) -> None:
    conn.execute(
        update(auth_token).where(auth_token.c.token_hash == principal.token_hash).values(revoked_at=now)
    )
    audit.append(
        conn,
        at=now,
        action="auth.logout",
        outcome="ok",
        staff_id=principal.staff.id,
        username=principal.staff.username,
        device_id=principal.device_id,
    )


def set_password(
    conn: Connection, *, staff_id: str, password: str, now: dt.datetime, password_hash: str | None = None
) -> None:
    """Create or replace a staff member's credential (seeding, admin reset)."""
    values = {
        "password_hash": password_hash or hash_password(password),
        "failed_count": 0,
        "locked_until": None,
        "changed_at": now,
    }
    changed = conn.execute(
        update(staff_credential).where(staff_credential.c.staff_id == staff_id).values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(staff_credential).values(staff_id=staff_id, **values))


_DUMMY_HASH = hash_password("not-a-real-password")
