"""Staff accounts: ``POST /auth/setup`` (a person's first login with the one-time setup code, or the
first after a reset: they choose their password and are logged in), and ``/admin/staff`` for the
administrators (三员分立): both administrators list the staff with each account's state (never a
secret); the security administrator resets a password (a new setup code, shown once), resets a person's
signing keys and unlocks an account. The system administrator keeps the records themselves with the
mutations ``staff.save`` / ``staff.retire`` and the staff import."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from server_stub.api.deps import DbDep, LangDep, SecurityAdminDep, SettingsDep, require_roles
from server_stub.api.routes.auth import _policy, issue_login, login_source
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services import audit, auth, login_throttle, setup_codes, staff_import
from server_stub.services.auth import Principal
from server_stub.services.clock import utcnow
from server_stub.services.entities import to_entity
from server_stub.services.notifier import FeedNotifier
from shared.domain.entities import Staff
from shared.errors import AuthFailed, NotFound, ValidationFailed
from shared.i18n import tr
from shared.protocol.models import ErrorBody, LoginResponse, WireModel
from shared.reference_io.staff import COLUMNS, export_row
from shared.security.password_policy import MAX_LENGTH, password_problem

setup_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(
    prefix="/admin/staff",
    tags=["admin"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
StaffReaderDep = Annotated[Principal, Depends(require_roles("admin", "security_admin"))]


class SetupRequest(WireModel):
    username: str = Field(min_length=1, max_length=64)
    setup_code: str = Field(min_length=1, max_length=64)
    new_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    device_id: str = Field(min_length=1, max_length=128)
    campus_id: str | None = Field(default=None, max_length=64)
    device_secret: str | None = Field(default=None, min_length=16, max_length=128)


@setup_router.post(
    "/setup",
    response_model=LoginResponse,
    responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}},
)
def setup(
    body: SetupRequest, request: Request, db: DbDep, settings: SettingsDep, lang: LangDep
) -> LoginResponse:
    """Set the password with a one-time setup code, then log in as ``/auth/login`` does. A password the
    policy refuses: 422 ``weak_password`` (nothing used up). A wrong, used or expired code or an unknown
    username: one 401 ``setup_failed``, counted like a failed login (per source and per account)."""
    request.app.state.wipes.check_device_blocking(body.device_id, lang)
    now = utcnow()
    problem = password_problem(body.new_password, username=body.username, lang=lang)
    if problem is not None:
        raise ValidationFailed(problem, code="weak_password", detail={"field": "new_password"})
    with db.read() as conn:
        source = login_source(conn, request, now)
        auth.check_source(conn, source=source, now=now, lang=lang)
        staff = auth._find_staff(conn, body.username)
        code_hash = setup_codes.pending_hash(conn, staff.id) if staff else None
    matches = setup_codes.code_matches(code_hash, body.setup_code)  # slow: outside any transaction
    password_hash = auth.hash_password(body.new_password) if matches else None
    failure: AuthFailed | None = None
    with db.write() as conn:
        why = "unknown_user" if staff is None else "bad_code"
        counter = None
        if staff is not None:
            counter = login_throttle.account_key(
                conn, staff_id=staff.id, device_id=body.device_id, device_secret=body.device_secret
            )
            if login_throttle.blocked_until(conn, counter, now) is not None:
                why = "locked"
            elif matches and code_hash is not None:
                why = setup_codes.code_usable(conn, staff_id=staff.id, code_hash=code_hash, now=now)
                if not why and (staff.voided or not staff.active):
                    why = "inactive"
        if why:
            if counter is not None and why != "locked":
                login_throttle.record_failure(
                    conn,
                    counter,
                    now,
                    limit=settings.lockout_threshold,
                    window=dt.timedelta(minutes=settings.lockout_minutes),
                    block=dt.timedelta(minutes=settings.lockout_minutes),
                )
            audit.append(
                conn,
                at=now,
                action="auth.setup",
                outcome=why,
                staff_id=staff.id if staff else None,
                username=body.username,
                device_id=body.device_id,
            )
            auth.login_failed(conn, source=source, policy=_policy(settings), now=now, lang=lang)
            failure = AuthFailed(tr("auth.setup_failed", lang), code="setup_failed")
        else:
            assert staff is not None and password_hash is not None
            auth.set_password(conn, staff_id=staff.id, password="", password_hash=password_hash, now=now)
            setup_codes.mark_used(conn, staff_id=staff.id, now=now)
            audit.append(
                conn,
                at=now,
                action="auth.setup",
                outcome="ok",
                staff_id=staff.id,
                username=body.username,
                device_id=body.device_id,
            )
    if failure is not None:
        raise failure  # after the commit: the failure count and the audit entry stick
    assert password_hash is not None
    checked = auth.PasswordCheck(checked_hash=password_hash, matches=True)
    # the password stands whatever follows; the login itself (e.g. a campus not assigned) may not
    result = issue_login(
        db, settings, lang, body, password=body.new_password, checked=checked, source=source, now=now
    )
    return LoginResponse(
        token=result.token,
        expires_at=result.expires_at,
        server_time=now,
        staff=result.staff,
        campus_id=result.campus_id,
        timezone=settings.timezone,
    )


def _staff(conn: Any, username: str) -> Staff:
    table = ENTITY_TABLES[Staff.KIND]
    row = conn.execute(select(table).where(table.c.username == username)).first()
    if row is None:
        raise NotFound(f"no staff member {username!r}", code="unknown_account")
    return to_entity(Staff, row)


@router.get("")
def list_staff(_principal: StaffReaderDep, db: DbDep) -> list[dict[str, Any]]:
    """Every staff member (retired ones too) as ``clinic export staff`` writes them, with id, version,
    retired, and the account's state: ``has_password``, ``setup_code_expires_at`` (a pending code),
    ``locked``, ``signing_keys`` (live ones). No password, hash or code."""
    now = utcnow()
    with db.read() as conn:
        people = staff_import._all(conn, Staff)
        directory = staff_import.directory(conn)
        states = setup_codes.account_states(conn, now)
    campus_codes = {c.id: c.code for c in directory.campuses.values()}
    department_codes = {d.id: d.code for d in directory.departments.values()}
    out = []
    for person in sorted(people, key=lambda s: s.username):
        state = states.get(person.id)
        row: dict[str, Any] = dict(
            zip(COLUMNS, export_row(person, campus_codes, department_codes), strict=True)
        )
        row.update(
            id=person.id,
            version=person.version,
            retired=person.voided,
            has_password=bool(state and state.has_password),
            setup_code_expires_at=(
                state.setup_code_expires_at.isoformat() if state and state.setup_code_expires_at else None
            ),
            locked=bool(state and state.locked),
            signing_keys=state.live_signing_keys if state else 0,
        )
        out.append(row)
    return out


class ResetPasswordResponse(WireModel):
    username: str
    setup_code: str
    expires_at: dt.datetime
    tokens_revoked: int


@router.post("/{username}/reset-password", response_model=ResetPasswordResponse)
async def reset_password(
    username: str, principal: SecurityAdminDep, db: DbDep, settings: SettingsDep, request: Request
) -> ResetPasswordResponse:
    """Security administrator: the password stops working now, every session of the account ends, and a
    new one-time setup code (in this answer only) lets its owner choose a new one. Also the way to give
    a person created in the window their first code. Audited (never the code)."""
    issued = await run_in_threadpool(setup_codes.IssuedCode.make)

    def work() -> tuple[dt.datetime, list[str]]:
        with db.write() as conn:
            staff = _staff(conn, username)
            if staff.voided:
                raise ValidationFailed(f"{username} is retired", code="retired")
            return setup_codes.reset_password(
                conn,
                staff=staff,
                code_hash=issued.code_hash,
                now=utcnow(),
                ttl=dt.timedelta(hours=settings.setup_code_hours),
                by=principal.staff,
                device_id=principal.device_id,
            )

    expires_at, revoked = await run_in_threadpool(work)
    for token_hash in revoked:
        request.app.state.principals.forget(token_hash)
    return ResetPasswordResponse(
        username=username, setup_code=issued.code, expires_at=expires_at, tokens_revoked=len(revoked)
    )


class ResetKeyRequest(WireModel):
    reason: str = Field(default="reset by the security administrator", min_length=1, max_length=200)


@router.post("/{username}/reset-signing-key")
async def reset_signing_key(
    username: str, body: ResetKeyRequest, principal: SecurityAdminDep, db: DbDep, request: Request
) -> dict[str, Any]:
    """Security administrator: revoke every signing key the person registered (every PC); they register
    a new one at their next signature. Old signatures still verify. Audited; every PC pulls the change."""

    def work() -> list[str]:
        with db.write() as conn:
            staff = _staff(conn, username)
            return setup_codes.reset_signing_keys(
                conn,
                staff=staff,
                reason=body.reason,
                now=utcnow(),
                by=principal.staff,
                device_id=principal.device_id,
            )

    revoked = await run_in_threadpool(work)
    if revoked:
        notifier: FeedNotifier = request.app.state.notifier
        await notifier.refresh()
    return {"username": username, "revoked": revoked}


@router.post("/{username}/unlock")
def unlock(username: str, principal: SecurityAdminDep, db: DbDep) -> dict[str, Any]:
    """Security administrator: clear the account's login locks (on every PC), as ``/auth/unlock``."""
    with db.write() as conn:
        cleared = auth.unlock(conn, principal=principal, username=username, source=None, now=utcnow())
    return {"username": username, "cleared": cleared}
