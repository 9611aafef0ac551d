"""``/api/v1/auth``: log in for a bearer token bound to staff and device, log out, who am I."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request

from server_stub.api.deps import DbDep, LangDep, SettingsDep, SignedInDep
from server_stub.services import auth
from server_stub.services.clock import utcnow
from shared.domain.entities import Staff
from shared.errors import AuthFailed
from shared.protocol.models import ErrorBody, LoginRequest, LoginResponse

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={401: {"model": ErrorBody}, 423: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def login(body: LoginRequest, db: DbDep, settings: SettingsDep, lang: LangDep) -> LoginResponse:
    now = utcnow()
    failure: AuthFailed | None = None
    with db.read() as conn:
        check = auth.check_password(conn, username=body.username, password=body.password)
    check = auth.verify(check, body.password)
    with db.write() as conn:
        try:
            result = auth.login(
                conn,
                username=body.username,
                password=body.password,
                checked=check,
                device_id=body.device_id,
                campus_id=body.campus_id,
                now=now,
                ttl=dt.timedelta(hours=settings.token_ttl_hours),
                threshold=settings.lockout_threshold,
                lockout=dt.timedelta(minutes=settings.lockout_minutes),
                lang=lang,
            )
        except AuthFailed as error:
            failure = error  # committed below: the failure count and the audit entry must stick
    if failure is not None:
        raise failure
    return LoginResponse(
        token=result.token,
        expires_at=result.expires_at,
        server_time=now,
        staff=result.staff,
        campus_id=result.campus_id,
    )


@router.post("/logout", status_code=204, responses={401: {"model": ErrorBody}})
def logout(principal: SignedInDep, db: DbDep, request: Request) -> None:
    request.app.state.principals.forget(principal.token_hash)
    with db.write() as conn:
        auth.logout(conn, principal=principal, now=utcnow())


@router.get("/me", response_model=Staff, responses={401: {"model": ErrorBody}})
def me(principal: SignedInDep) -> Staff:
    return principal.staff
