"""A desk whose clock runs 20 minutes fast: its queue events reach the server with when they happened on
the server's clock (the PC's time corrected by the offset the sync engine measured), not the PC's raw
time and not the upload time. Real PC (store, sync engine) against a real server."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pytestqt.qtbot import QtBot

from shared.domain.entities import QueueTicket
from shared.ids import new_id
from tests.support.server import ServerProcess
from tests.triage.support import first_queue, free_patients
from triage_desk import model
from triage_desk.check_in import check_in_in_store

FAST = dt.timedelta(minutes=20)


def test_a_fast_pc_clock_is_corrected_by_the_measured_offset(
    qtbot: QtBot, make_pc: Any, triage_server: ServerProcess
) -> None:
    pc = make_pc("triage", "nurse1", slot=2)
    store = pc.runtime.store
    store.clock = lambda: dt.datetime.now(dt.UTC) + FAST  # this PC's clock is 20 minutes fast
    queue = first_queue(store, pc.runtime.campus_id)
    first, second = free_patients(store, 2)

    def check_in(patient: Any) -> str:
        now = store.clock().astimezone()
        args = {
            "id": new_id(),
            "queue_id": queue.id,
            "patient_id": patient.id,
            "day": model.local_day(now).isoformat(),
            "checked_in_at": now.isoformat(),
        }
        check_in_in_store(store, args=args, slot=2, now=now, lang="zh_CN")
        return str(args["id"])

    def confirmed(ticket_id: str) -> QueueTicket | None:
        pc.runtime.network.wake()
        row = store.get(QueueTicket, ticket_id)
        # the server's row: its receipt time is on the server's clock (the local view's is the PC's)
        server_row = row is not None and abs(row.events[0].at - dt.datetime.now(dt.UTC)) < dt.timedelta(
            minutes=5
        )
        return row if server_row else None

    # the first exchange measures the offset
    check_in(first)
    qtbot.waitUntil(lambda: float(store.state("clock_offset") or 0) < -1100, timeout=30_000)
    qtbot.waitUntil(lambda: store.pending_count() == 0, timeout=30_000)
    pc.runtime.network.stop(10.0)  # the network goes down
    before = dt.datetime.now(dt.UTC)
    ticket_id = check_in(second)
    after = dt.datetime.now(dt.UTC)
    qtbot.wait(6_000)  # … and comes back six seconds later: the check-in is uploaded then
    pc.runtime.start_sync()
    qtbot.waitUntil(lambda: confirmed(ticket_id) is not None, timeout=30_000)
    ticket = confirmed(ticket_id)
    assert ticket is not None
    happened = ticket.events[0].occurred_at
    assert happened is not None
    slack = dt.timedelta(seconds=3)
    # when it happened, on the server's clock: not the PC's (+20 min), not the upload (6 s later, twice
    # the slack)
    assert before - slack <= happened <= after + slack
    assert before - slack <= ticket.checked_in_at <= after + slack
    assert ticket.events[0].at >= happened + dt.timedelta(seconds=4)  # the server's receipt time, kept too


def test_waiting_statistics_count_from_when_things_happened_not_when_the_server_heard() -> None:
    from shared.domain.entities import Queue, TicketEvent

    t0 = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
    queue = Queue(id="q", campus_id="c", code="Q", name="Q")
    events = [
        TicketEvent(no=1, kind="check_in", at=t0, by="n", occurred_at=t0),
        # called 5 minutes after check-in, on a desk that was offline for 35 more minutes
        TicketEvent(
            no=2,
            kind="call",
            at=t0 + dt.timedelta(minutes=40),
            by="n",
            occurred_at=t0 + dt.timedelta(minutes=5),
        ),
    ]
    ticket = QueueTicket(
        id="t",
        campus_id="c",
        queue_id="q",
        day=t0.date(),
        number=101,
        label="A101",
        number_key="q:101",
        patient_id="p",
        status="called",
        checked_in_at=t0,
        events=events,
    )
    summary = model._summary(queue, [ticket], t0 + dt.timedelta(minutes=41))
    assert summary.average_wait_min == 5
