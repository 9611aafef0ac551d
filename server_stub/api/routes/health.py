"""Liveness: ``GET /healthz`` answers without authentication, with the feed head, the database kind and
the hospital's time zone."""

from __future__ import annotations

from fastapi import APIRouter

from server_stub.api.deps import DbDep, SettingsDep
from server_stub.services import feed
from server_stub.services.clock import utcnow
from shared import __version__
from shared.protocol.models import ServerInfo

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=ServerInfo)
def healthz(db: DbDep, settings: SettingsDep) -> ServerInfo:
    with db.read() as conn:
        head = feed.head(conn)
    return ServerInfo(
        status="ok",
        version=__version__,
        database=db.backend,
        head=head,
        server_time=utcnow(),
        timezone=settings.timezone,
    )
