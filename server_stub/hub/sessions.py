"""Who may use the hub: central tokens it saw issued (kept by hash), tokens it issues itself at an
offline login, and the offline verifiers that make such a login possible.

Rules (the same as a PC's offline unlock): a verifier exists only for staff who logged in online lately,
through this hub (``remember_online_login``) or anywhere else (the central API's list for the hub's
campus, ``hub.verifiers``), and only for ``verifier_days`` after that login; 5 wrong passwords lock the
account here for 15 minutes; the replica's staff record decides whether the account is still active and
assigned to the campus asked for. A hub token is random, only its SHA-256 is stored, and it ends at its expiry or after
``idle`` without a request. Event loop only; hashing runs on worker threads, storage on the db thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import ValidationError

from server_stub.hub.store import HubDb, HubStore, Session
from shared.domain.entities import Staff, works_at
from shared.errors import AccountLocked, AuthFailed
from shared.i18n import tr
from shared.protocol.models import Change, LoginRequest, LoginResponse
from shared.security.verifier import normalize_username

log = logging.getLogger(__name__)

HUB_TOKEN_PREFIX = "hubt_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NoOfflineLogin(Exception):
    """The hub holds no recent verifier for the account: only the central API (or the PC) can decide."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LoginPolicy:
    verifier_age: dt.timedelta = dt.timedelta(days=14)
    threshold: int = 5
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    token_ttl: dt.timedelta = dt.timedelta(hours=12)
    idle: dt.timedelta = dt.timedelta(minutes=30)


class Sessions:
    def __init__(self, db: HubDb, policy: LoginPolicy, *, campus_id: str | None = None) -> None:
        self.db = db
        self.policy = policy
        self.campus_id = campus_id  # the hub's campus when known (``--campus``)
        self.hasher = PasswordHasher(type=Type.ID)
        self._sessions: dict[str, Session] = {}
        self._touched: dict[str, dt.datetime] = {}
        self._seen: dict[str, tuple[str, str, dt.datetime]] = {}
        # staff records read from the replica (None: not there), kept until a replica page changes
        # them (``replica_changed``): every request looks its staff member up, and a read through the
        # database thread waited behind the pushes' durable writes
        self._staff: dict[str, dict[str, Any] | None] = {}

    async def load(self) -> None:
        now = _now()
        for session in await self.db.run(HubStore.sessions):
            if session.expires_at > now:
                self._sessions[session.token_hash] = session

    # -- who is calling ---------------------------------------------------------------------------
    async def lookup(self, token: str | None, lang: str) -> Session:
        """The session of a bearer token, or ``AuthFailed`` (the central API's codes)."""
        if not token:
            raise AuthFailed(tr("auth.missing_token", lang), code="token_missing")
        key = token_hash(token)
        session = self._sessions.get(key)
        now = _now()
        if session is None:
            raise AuthFailed(tr("auth.expired", lang), code="token_invalid")
        idle_out = session.origin == "hub" and now - session.last_used > self.policy.idle
        if session.expires_at <= now or idle_out:
            await self.drop(key)
            raise AuthFailed(tr("auth.expired", lang), code="token_expired")
        staff = await self.replica_staff(session.staff_id)
        if staff is not None:
            if not staff.get("active", True):
                await self.drop(key)
                raise AuthFailed(tr("auth.inactive", lang), code="account_inactive")
            session.staff = staff  # roles follow the central API's record, never the older copy
        session.last_used = now
        self._touched[key] = now
        self.note_pc(session)
        return session

    async def replica_staff(self, staff_id: str) -> dict[str, Any] | None:
        """The replica's record of a staff member (as ``HubStore.replica_entity``), remembered."""
        if staff_id in self._staff:
            return self._staff[staff_id]
        staff = await self.db.run(HubStore.replica_entity, "staff", staff_id)
        # A replica page stored meanwhile was stored after this read (one database thread, in order)
        # and its ``replica_changed`` runs after this: it drops what is kept here if it changed it.
        self._staff[staff_id] = staff
        return staff

    def replica_changed(self, changes: Iterable[Change]) -> None:
        """The replica stored these changes: forget the staff records they change."""
        for change in changes:
            if change.kind == "staff":
                self._staff.pop(change.id, None)

    def note_pc(self, session: Session) -> None:
        self._seen[session.device_id] = (session.staff_id, str(session.staff.get("name", "")), _now())

    def known(self, token: str | None) -> Session | None:
        return self._sessions.get(token_hash(token)) if token else None

    async def drop(self, key: str) -> None:
        self._sessions.pop(key, None)
        self._touched.pop(key, None)
        await self.db.run(HubStore.drop_session, key)

    async def flush(self) -> None:
        """Write last-use times and the PCs seen (every few seconds; for idle expiry and status)."""
        touched, self._touched = self._touched, {}
        seen, self._seen = self._seen, {}
        if touched:
            await self.db.run(HubStore.touch_sessions, touched)
        if seen:
            await self.db.run(HubStore.note_pcs, seen)

    # -- logins -----------------------------------------------------------------------------------
    async def remember_online_login(self, request: LoginRequest, answer: LoginResponse) -> None:
        """After the central API accepted a login through this hub: keep a verifier of the password,
        the staff record, and the token by hash, so the hub can serve this PC with the central API away."""
        staff = answer.staff.model_dump(mode="json")
        username = normalize_username(request.username)
        if answer.staff.active and answer.staff.roles:
            hashed = await asyncio.to_thread(self.hasher.hash, request.password)
            await self.db.run(
                HubStore.remember,
                username=username,
                password_hash=hashed,
                staff=staff,
                campus_id=answer.campus_id,
            )
        session = Session(
            token_hash=token_hash(answer.token),
            origin="central",
            staff=staff,
            device_id=request.device_id,
            campus_id=answer.campus_id,
            expires_at=answer.expires_at,
            last_used=_now(),
        )
        await self.db.run(HubStore.save_session, session)
        self._sessions[session.token_hash] = session
        if answer.desk_slot is not None and answer.campus_id:
            await self.db.run(
                HubStore.remember_desk_slot, request.device_id, answer.campus_id, answer.desk_slot
            )
        self.note_pc(session)

    async def refused_online(self, request: LoginRequest) -> None:
        """The central API refused this password: if it is the one the verifier holds, the password was
        changed or the account closed, so the verifier goes."""
        username = normalize_username(request.username)
        row = await self.db.run(HubStore.verifier, username)
        if row is not None and await asyncio.to_thread(self._matches, row.password_hash, request.password):
            await self.db.run(HubStore.forget_verifier, username)

    def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False

    async def offline_login(self, request: LoginRequest, lang: str) -> LoginResponse:
        """Log in with the cached verifier while the central API is away, for a hub token.

        Without a recent verifier for the account the hub cannot decide: it raises ``NoOfflineLogin``
        (answered like an unreachable central API) rather than a wrong-password refusal, so the PC
        offers its own offline unlock where it has one."""
        username = normalize_username(request.username)
        now = _now()
        refused = AuthFailed(tr("auth.login_failed", lang), code="login_failed")
        row = await self.db.run(HubStore.verifier, username)
        if row is None or not (dt.timedelta(days=-1) <= now - row.remembered_at <= self.policy.verifier_age):
            raise NoOfflineLogin(tr("hub.no_offline_login", lang))
        if row.locked_until is not None and row.locked_until > now:
            raise AccountLocked(
                tr("auth.locked", lang, until=row.locked_until.astimezone().strftime("%H:%M")),
                code="account_locked",
            )
        if not await asyncio.to_thread(self._matches, row.password_hash, request.password):
            until = await self.db.run(
                HubStore.note_failure, username, threshold=self.policy.threshold, lockout=self.policy.lockout
            )
            log.warning(
                "offline login refused for %r at the hub%s", username, " (now locked)" if until else ""
            )
            raise refused
        await self.db.run(HubStore.note_success, username)
        replica_staff: dict[str, Any] | None = await self.db.run(
            HubStore.replica_entity, "staff", str(row.staff["id"])
        )
        try:  # a verifier from the central API's list names only the staff id: the replica has the rest
            staff = Staff.model_validate(replica_staff or row.staff)
        except ValidationError as error:
            raise NoOfflineLogin(tr("hub.no_offline_login", lang)) from error
        if not staff.active:
            raise AuthFailed(tr("auth.inactive", lang), code="account_inactive")
        campus = request.campus_id or row.campus_id or staff.campus_id
        if campus is None or not works_at(staff, campus) or (self.campus_id and campus != self.campus_id):
            raise AuthFailed(
                tr("hub.not_this_campus", lang, campus=campus or "-"), code="campus_not_assigned"
            )
        token = HUB_TOKEN_PREFIX + secrets.token_urlsafe(32)
        session = Session(
            token_hash=token_hash(token),
            origin="hub",
            staff=staff.model_dump(mode="json"),
            device_id=request.device_id,
            campus_id=campus,
            expires_at=now + self.policy.token_ttl,
            last_used=now,
        )
        await self.db.run(HubStore.save_session, session)
        self._sessions[session.token_hash] = session
        self.note_pc(session)
        slot = None
        if request.desk_slot is not None:
            slot = await self.db.run(HubStore.desk_slot, request.device_id, campus)
        log.info("offline login of %s at the hub (device %s)", username, request.device_id)
        return LoginResponse(
            token=token,
            expires_at=session.expires_at,
            server_time=now,
            staff=staff,
            campus_id=campus,
            desk_slot=slot,
        )
