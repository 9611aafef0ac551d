"""Remote wipe of a retired or lost PC: IT marks the device (``clinic device-wipe`` or the admin API);
the server answers that device's next request — with any token it was ever issued, even an expired or
revoked one, and a login — with a wipe instruction (403 ``device_wipe``); the app then deletes its local
cache, the cache's key and its login (``shared.store.wipe``).

Each server process keeps the marked devices and their token hashes in memory (``WipeRegistry``),
re-read from the database at most every ``refresh_seconds`` when requests arrive, so the check costs a
set lookup on the request path and nothing when no device is marked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging

from sqlalchemy import Connection, delete, insert, select, update
from starlette.concurrency import run_in_threadpool

from server_stub.db.engine import Database
from server_stub.db.tables import auth_token, device_wipe
from server_stub.services import audit
from server_stub.services.clock import utcnow
from shared.errors import PermissionDenied
from shared.i18n import register, tr

log = logging.getLogger(__name__)

WIPE_CODE = "device_wipe"

register(
    "device.wipe",
    {
        "zh_CN": "信息科已停用本电脑：本机的本地数据、密钥和登录信息已被清除",
        "en": "IT retired this PC: its local data, key and login are being erased",
        "zh_TW": "資訊科已停用本電腦：本機的本地數據、密鑰和登錄信息已被清除",
    },
)


class DeviceWiped(PermissionDenied):
    """The wipe instruction: the device was marked for a remote wipe."""

    code = WIPE_CODE


def mark(conn: Connection, *, device_id: str, by: str | None, reason: str, now: dt.datetime) -> None:
    """Mark ``device_id`` for a wipe at its next contact (again: the mark is renewed)."""
    conn.execute(delete(device_wipe).where(device_wipe.c.device_id == device_id))
    conn.execute(
        insert(device_wipe).values(
            device_id=device_id, requested_at=now, requested_by=by, reason=reason[:500]
        )
    )
    audit.append(
        conn,
        at=now,
        action="device.wipe_marked",
        outcome="ok",
        staff_id=by,
        device_id=device_id,
        detail={"reason": reason},
    )


def cancel(conn: Connection, *, device_id: str, by: str | None, now: dt.datetime) -> bool:
    gone = conn.execute(delete(device_wipe).where(device_wipe.c.device_id == device_id)).rowcount
    if gone:
        audit.append(
            conn, at=now, action="device.wipe_cancelled", outcome="ok", staff_id=by, device_id=device_id
        )
    return bool(gone)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WipeRegistry:
    """Per process; used from the event loop."""

    def __init__(self, db: Database, *, refresh_seconds: float = 2.0) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self.devices: frozenset[str] = frozenset()
        self._tokens: dict[str, str] = {}  # token hash -> device
        self._loaded_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None

    def _read(self) -> tuple[frozenset[str], dict[str, str]]:
        with self.db.read() as conn:
            devices = frozenset(conn.execute(select(device_wipe.c.device_id)).scalars())
            tokens: dict[str, str] = {}
            if devices:
                rows = conn.execute(
                    select(auth_token.c.token_hash, auth_token.c.device_id).where(
                        auth_token.c.device_id.in_(sorted(devices))
                    )
                )
                tokens = {row.token_hash: row.device_id for row in rows}
        return devices, tokens

    async def refresh(self) -> None:
        self.devices, self._tokens = await run_in_threadpool(self._read)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._loaded_at < self.refresh_seconds or self._refreshing is not None:
            return
        self._loaded_at = loop.time()

        async def run() -> None:
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - a busy database: the next request tries again
                log.warning("reading the devices marked for a wipe failed", exc_info=True)
                self._loaded_at = float("-inf")
            finally:
                self._refreshing = None

        self._refreshing = loop.create_task(run())

    async def check_token(self, token: str, lang: str) -> None:
        """Raise the wipe instruction if ``token`` was issued to a device marked for a wipe."""
        self._tick()
        if self._tokens:
            device = self._tokens.get(_token_hash(token))
            if device is not None:
                await self._instruct(device, lang)

    def check_device_blocking(self, device_id: str, lang: str) -> None:
        """``check_token`` for a login (worker thread): the device it names, read from the database."""
        with self.db.read() as conn:
            marked = conn.execute(
                select(device_wipe.c.device_id).where(device_wipe.c.device_id == device_id)
            ).first()
        if marked is not None:
            self._record(device_id)
            raise DeviceWiped(tr("device.wipe", lang), detail={"device_id": device_id})

    def _record(self, device_id: str) -> None:
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                update(device_wipe)
                .where(device_wipe.c.device_id == device_id, device_wipe.c.delivered_at.is_(None))
                .values(delivered_at=now)
            )
            audit.append(conn, at=now, action="device.wipe_sent", outcome="ok", device_id=device_id)

    async def _instruct(self, device_id: str, lang: str) -> None:
        await run_in_threadpool(self._record, device_id)
        raise DeviceWiped(tr("device.wipe", lang), detail={"device_id": device_id})
