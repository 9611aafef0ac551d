"""Long-polls on a busy feed are paced per PC, but a queue call or check-in is never held back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.ids import new_id, reference_id
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

INTERVAL = 4.0
CARDIOLOGY = reference_id("queue", "MAIN-NK-Q")


@pytest.fixture
def paced_server(demo_db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"CLINIC_LONGPOLL_MIN_INTERVAL_SECONDS": str(INTERVAL)}
    process = ServerProcess(demo_db_url, tmp_path / "server.log", env=env).start()
    yield process
    process.stop()


def _long_poll_while(watcher: ApiUser, cursor: int, action: Any) -> tuple[float, dict[str, Any]]:
    """Open a long-poll, run ``action`` 0.3 s later from another device; seconds until the answer."""
    timer = threading.Timer(0.3, action)
    started = time.monotonic()
    timer.start()
    try:
        page = watcher.pull(cursor, wait=20)
    finally:
        timer.join()
    return time.monotonic() - started, page


def test_a_busy_feed_is_paced_but_a_queue_check_in_ends_the_hold(paced_server: ServerProcess) -> None:
    watcher = ApiUser(paced_server.url, "nurse3")
    desk = ApiUser(paced_server.url, "nurse1", desk_slot=3)  # a triage desk numbering from slot 3
    _, cursor = watcher.pull_all()

    # First long-poll: nothing held, it answers right after the write.
    patient = patient_args(name="节流一")
    took, page = _long_poll_while(watcher, cursor, lambda: desk.push_one("patient.register", patient))
    assert took < 2.0 and {c["id"] for c in page["changes"]} >= {patient["id"]}
    cursor = page["next_cursor"]

    # Asked again at once: an ordinary write waits until INTERVAL after the previous answer.
    second = patient_args(name="节流二")
    took, page = _long_poll_while(watcher, cursor, lambda: desk.push_one("patient.register", second))
    assert took > INTERVAL - 1.0, took
    assert {c["id"] for c in page["changes"]} >= {second["id"]}
    cursor = page["next_cursor"]

    # Asked again at once: a check-in (a queue ticket) is answered without waiting for the interval.
    ticket = new_id()

    def check_in() -> None:
        outcome = desk.push_one(
            "queue.check_in",
            {"id": ticket, "queue_id": CARDIOLOGY, "patient_id": patient["id"], "number": 301},
        )
        assert outcome["status"] == "applied", outcome

    took, page = _long_poll_while(watcher, cursor, check_in)
    assert took < 2.0, took
    assert ticket in {c["id"] for c in page["changes"] if c["kind"] == "queue_ticket"}
