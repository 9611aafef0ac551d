"""The hub's link to the central API: one pooled HTTP client, and a watcher that probes ``/healthz``
about every second so the hub knows at once whether to proxy or to answer from its own store."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

import httpx

from shared.protocol.models import HUB_HEADER, ServerInfo

log = logging.getLogger(__name__)


class Upstream:
    """Up/down state of the central API plus what the last probe said. Event loop only.

    ``up`` turns False at the first failed probe or failed proxied request, and True again at the
    next good probe. ``revoked`` is set when the central API refuses the hub's own credential."""

    def __init__(
        self,
        url: str,
        credential: str,
        *,
        probe_seconds: float = 1.0,
        probe_timeout: float = 1.0,
        verify: bool | str = True,
    ) -> None:
        self.url = url.rstrip("/")
        self.credential = credential
        self.probe_seconds = probe_seconds
        self.probe_timeout = probe_timeout
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self.client = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(15.0, connect=2.0),
            limits=limits,
            verify=verify,
            # Names the hub on every request, so the central API can believe the PC's address the hub
            # forwards (X-Forwarded-For) for its login throttle, and no other sender's.
            headers={HUB_HEADER: credential},
        )
        self.up = False
        self.revoked = False
        self.last_contact: dt.datetime | None = None
        self.central_head: int | None = None
        # the hospital's zone as the central API last said it (``ServerInfo.timezone``); the hub keeps it
        # in its store (meta ``central_timezone``) to tell its PCs while the central API is away
        self.timezone: str | None = None
        self.changed = asyncio.Event()  # set on every up/down transition (the relay worker waits on it)
        self._task: asyncio.Task[None] | None = None

    @property
    def hub_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    def mark_up(self) -> None:
        self.last_contact = dt.datetime.now(dt.UTC)
        if not self.up:
            log.info("central API %s reachable", self.url)
            self.up = True
            self.changed.set()

    def mark_down(self, reason: str) -> None:
        if self.up:
            log.warning("central API %s unreachable: %s", self.url, reason)
            self.up = False
            self.changed.set()

    def mark_revoked(self, message: str) -> None:
        if not self.revoked:
            log.error("the central API refused this hub's credential (%s): relaying stopped", message)
        self.revoked = True
        self.changed.set()

    async def probe(self) -> bool:
        try:
            answer = await self.client.get("/healthz", timeout=self.probe_timeout)
        except httpx.HTTPError as error:
            self.mark_down(type(error).__name__)
            return False
        if answer.status_code != 200:
            self.mark_down(f"healthz {answer.status_code}")
            return False
        with contextlib.suppress(ValueError):
            info = ServerInfo.model_validate_json(answer.content)
            self.central_head = info.head
            self.timezone = info.timezone or self.timezone
        self.mark_up()
        return True

    async def _watch(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self.probe_seconds)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()
