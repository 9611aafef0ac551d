"""Pull pages shared between concurrent requests: when a write wakes hundreds of long-polls at once, the
ones asking for the same page (same cursor, limit and scope) share one database read and one JSON
encoding instead of each doing its own. Only reads in flight are shared, so nothing is ever stale."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from server_stub.services.feed import Page
from shared.protocol.models import Change

_changes_json = TypeAdapter(list[Change])


@dataclass(frozen=True)
class EncodedPage:
    """A page with its change list already encoded as JSON."""

    changes_json: bytes
    count: int
    next_cursor: int
    has_more: bool
    # the patients it sends (for the audit of bulk reads; not part of the answer)
    patient_ids: tuple[str, ...] = ()

    def response_body(self, server_time: str) -> bytes:
        tail = {"next_cursor": self.next_cursor, "has_more": self.has_more, "server_time": server_time}
        return b'{"changes":' + self.changes_json + b"," + json.dumps(tail).encode()[1:]


# (cursor, limit, campus, restricted kinds): requests with the same key get the same page
PageKey = tuple[int, int, str | None, frozenset[str]]


class SharedReads:
    """Per-process, used from the event loop only (not thread-safe, needs no lock)."""

    def __init__(self) -> None:
        self._in_flight: dict[PageKey, asyncio.Future[EncodedPage]] = {}

    async def page(self, key: PageKey, read: Callable[[], Page]) -> EncodedPage:
        shared = self._in_flight.get(key)
        if shared is not None:
            return await asyncio.shield(shared)
        future: asyncio.Future[EncodedPage] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            encoded = await run_in_threadpool(_read_and_encode, read)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: followers re-raise it themselves
            raise
        finally:
            self._in_flight.pop(key, None)
        future.set_result(encoded)
        return encoded


def _read_and_encode(read: Callable[[], Page]) -> EncodedPage:
    page = read()
    return EncodedPage(
        changes_json=_changes_json.dump_json(page.changes),
        count=len(page.changes),
        next_cursor=page.next_cursor,
        has_more=page.has_more,
        patient_ids=page.patient_ids,
    )
