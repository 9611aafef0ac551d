"""``/api/v1/auth``: log in for a bearer token bound to staff and device, log out, who am I, and unlock
an account or a source locked by failed logins (security administrator)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from fastapi import APIRouter, Request
from sqlalchemy import Connection

from server_stub.api.deps import DbDep, LangDep, PrincipalDep, SecurityAdminDep, SettingsDep, SignedInDep
from server_stub.config import ServerSettings
from server_stub.db.engine import Database
from server_stub.services import auth, desk_slots, hubs
from server_stub.services.clock import utcnow
from server_stub.services.login_throttle import ThrottlePolicy
from shared.domain.entities import Staff
from shared.errors import AuthFailed, ValidationFailed
from shared.protocol.models import ErrorBody, LoginRequest, LoginResponse, UnlockRequest, UnlockResponse

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginFields(Protocol):
    """What a login and a first login with a setup code both name."""

    username: str
    device_id: str
    campus_id: str | None
    device_secret: str | None


def login_source(conn: Connection, request: Request, now: dt.datetime) -> str:
    """Where a login (or a first login with a setup code) comes from, for the throttle: the peer's
    address, or the PC behind an enrolled clinic hub that names itself (``hubs.forwarded_source``)."""
    peer = request.client.host if request.client else ""
    return hubs.forwarded_source(conn, request.headers, peer, now=now)


def issue_login(
    db: Database,
    settings: ServerSettings,
    lang: str,
    body: LoginFields,
    *,
    password: str,
    checked: auth.PasswordCheck,
    source: str,
    now: dt.datetime,
) -> auth.LoginResult:
    """Log ``body``'s user in with an already checked password (``auth.login``); a refusal is raised
    after its transaction commits, so the failure count and the audit entry stick."""
    failure: AuthFailed | None = None
    with db.write() as conn:
        try:
            result = auth.login(
                conn,
                username=body.username,
                password=password,
                checked=checked,
                device_id=body.device_id,
                campus_id=body.campus_id,
                now=now,
                ttl=dt.timedelta(hours=settings.token_ttl_hours),
                threshold=settings.lockout_threshold,
                lockout=dt.timedelta(minutes=settings.lockout_minutes),
                lang=lang,
                source=source,
                device_secret=body.device_secret,
                source_policy=_policy(settings),
            )
        except AuthFailed as error:
            failure = error
    if failure is not None:
        raise failure
    return result


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={401: {"model": ErrorBody}, 429: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def login(
    body: LoginRequest, request: Request, db: DbDep, settings: SettingsDep, lang: LangDep
) -> LoginResponse:
    """Every failed login gets the same 401 ``login_failed``; a source with too many failures lately
    gets 429 ``too_many_attempts`` before any password is checked (see ``services.login_throttle``)."""
    request.app.state.wipes.check_device_blocking(body.device_id, lang)  # a PC marked for a remote wipe
    now = utcnow()
    with db.read() as conn:
        source = login_source(conn, request, now)
        auth.check_source(conn, source=source, now=now, lang=lang)
        check = auth.check_password(conn, username=body.username, password=body.password)
    check = auth.verify(check, body.password)
    result = issue_login(
        db, settings, lang, body, password=body.password, checked=check, source=source, now=now
    )
    slot = None
    # a kiosk account holds no data and checks in online only: it numbers nothing itself
    if body.desk_slot is not None and result.campus_id and set(result.staff.roles) - {"kiosk"}:
        with db.write() as conn:
            slot = desk_slots.assign(
                conn,
                campus_id=result.campus_id,
                device_id=body.device_id,
                staff_id=result.staff.id,
                requested=body.desk_slot,
                now=now,
            )
    return LoginResponse(
        token=result.token,
        expires_at=result.expires_at,
        server_time=now,
        staff=result.staff,
        campus_id=result.campus_id,
        timezone=settings.timezone,
        desk_slot=slot,
    )


@router.post("/logout", status_code=204, responses={401: {"model": ErrorBody}})
def logout(principal: PrincipalDep, db: DbDep, request: Request) -> None:
    """Revoke the caller's own token: every account may end its session (a kiosk too, when it is shut
    down or retired), which is all a kiosk may do here besides checking patients in."""
    request.app.state.principals.forget(principal.token_hash)
    with db.write() as conn:
        auth.logout(conn, principal=principal, now=utcnow())


@router.get("/me", response_model=Staff, responses={401: {"model": ErrorBody}})
def me(principal: SignedInDep) -> Staff:
    return principal.staff


def _policy(settings: ServerSettings) -> ThrottlePolicy:
    return ThrottlePolicy(
        account_failures=settings.lockout_threshold,
        lockout=dt.timedelta(minutes=settings.lockout_minutes),
        source_failures=settings.login_source_failures,
        source_window=dt.timedelta(minutes=settings.login_source_minutes),
        source_block=dt.timedelta(minutes=settings.login_source_minutes),
    )


@router.post(
    "/unlock",
    response_model=UnlockResponse,
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def unlock(body: UnlockRequest, principal: SecurityAdminDep, db: DbDep) -> UnlockResponse:
    """Clear an account's login locks (on every PC) and/or a source address's block (security
    administrator only; the system administrator cannot). Audited."""
    if not body.username and not body.source:
        raise ValidationFailed("give a username, a source address, or both", code="invalid_input")
    with db.write() as conn:
        cleared = auth.unlock(
            conn, principal=principal, username=body.username, source=body.source, now=utcnow()
        )
    return UnlockResponse(cleared=cleared)
