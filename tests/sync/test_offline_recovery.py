"""The sync engine's run loop through an outage against a real server process: it never claims to be
online without an exchange that went through, it probes a server out of reach on a short, capped,
jittered interval however long the outage lasts, and it is online again as soon as a probe gets
through (not after a long-poll or a grown backoff)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shared.sync import ApiTransport, SyncState, SyncStatus
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, make_client


class RecordingTransport(httpx.HTTPTransport):
    """A real HTTP transport that notes each request's path and whether it got an answer."""

    def __init__(self, events: list[tuple[str, str]]) -> None:
        super().__init__()
        self.events = events

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.TransportError:
            self.events.append(("failed", request.url.path))
            raise
        self.events.append((f"answered {response.status_code}", request.url.path))
        return response


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def own_server(demo_db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(demo_db_url, tmp_path / "server.log").start()
    yield process
    process.stop()


@pytest.fixture
def running_pc(own_server: ServerProcess, tmp_path: Path) -> Iterator[tuple[ClientPC, list[tuple[str, str]]]]:
    events: list[tuple[str, str]] = []
    pc = make_client(tmp_path / "pc.db", own_server.url, long_poll_seconds=20.0, backoff_max=60.0)
    pc.transport.close()
    pc.transport = pc.engine.transport = ApiTransport(
        own_server.url, timeout=5.0, transport=RecordingTransport(events)
    )
    pc.transport.set_token(pc.engine.tokens.load(f"{pc.store.app}:{pc.store.device_id}"))

    def noted(status: SyncStatus) -> None:
        events.append(("status", status.state.value))

    pc.engine.on_status = noted
    stop = threading.Event()
    runner = threading.Thread(target=pc.engine.run, args=(stop,), daemon=True)
    runner.start()
    yield pc, events
    stop.set()
    runner.join(30)
    pc.close()


def _failed_requests(events: list[tuple[str, str]]) -> int:
    return sum(1 for kind, _ in events if kind == "failed")


def test_an_outage_with_nothing_to_push_is_offline_throughout_and_probed_on_a_short_interval(
    own_server: ServerProcess, running_pc: tuple[ClientPC, list[tuple[str, str]]]
) -> None:
    pc, events = running_pc
    _wait_until(lambda: ("status", "online") in events)
    own_server.stop()
    _wait_until(lambda: ("status", "offline") in events)
    outage = len(events)
    _wait_until(lambda: _failed_requests(events[outage:]) >= 5, timeout=90)
    during = events[outage:]
    # before: every empty push said "online" and the status bar flickered once a second
    assert ("status", "online") not in during, during
    # before: every retry counted as a failure and the backoff grew to 30-60 s
    delays = [pc.engine.retry_delay() for _ in range(50)]
    assert max(delays) <= pc.engine.probe_interval <= 5.0
    assert len(set(delays)) > 1, "jitter: a clinic's PCs do not probe in step"
    # the probe is the cheap health check, not a push or a long-poll
    assert {path for kind, path in during if kind == "failed"} <= {"/healthz", "/api/v1/sync/pull"}
    assert any(path == "/healthz" for kind, path in during if kind == "failed")


def test_the_pc_is_online_as_soon_as_a_probe_gets_through(
    own_server: ServerProcess, running_pc: tuple[ClientPC, list[tuple[str, str]]]
) -> None:
    pc, events = running_pc
    _wait_until(lambda: ("status", "online") in events)
    own_server.stop()
    _wait_until(lambda: ("status", "offline") in events)
    outage = len(events)
    _wait_until(lambda: _failed_requests(events[outage:]) >= 4, timeout=90)
    back = len(events)
    own_server.start()
    _wait_until(lambda: ("status", "online") in events[back:], timeout=60)
    after = events[back:]
    first_online = after.index(("status", "online"))
    answered = [(kind, path) for kind, path in after[:first_online] if kind.startswith("answered")]
    # online because a health probe got through, not after a long-poll ended
    assert answered and answered[-1] == ("answered 200", "/healthz"), after
    assert pc.engine.status().state is SyncState.ONLINE


def test_a_pc_goes_on_working_offline_and_its_entries_stay_pending_until_delivered(
    own_server: ServerProcess, running_pc: tuple[ClientPC, list[tuple[str, str]]]
) -> None:
    from tests.support.api import patient_args

    pc, events = running_pc
    _wait_until(lambda: ("status", "online") in events)
    own_server.stop()
    _wait_until(lambda: ("status", "offline") in events)
    entry = pc.store.record("patient.register", patient_args(name="停机时登记"))
    pc.engine.wake()
    recorded = len(events)
    _wait_until(lambda: _failed_requests(events[recorded:]) >= 2, timeout=60)
    stored = pc.store.entry(entry.mutation_id)
    assert stored is not None and stored.status == "pending", stored
    own_server.start()
    _wait_until(lambda: pc.store.entry(entry.mutation_id).status == "applied", timeout=60)  # type: ignore[union-attr]
