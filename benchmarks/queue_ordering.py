"""Queue ordering benchmark (issue 4): one recompute of a 2,000-ticket queue with every rule on.

Run: ``.venv/bin/python benchmarks/queue_ordering.py [--tickets 2000] [--repeat 200]``. The queue holds
a realistic day: appointments (early, on time, late) and walk-ins, every priority class, elderly by
birth date, skipped patients returned after N others, nurse reorders, a history of calls for the
interleave phase, six rooms with door queues (one paused) and the starvation guard. The target is under
10 ms per recompute.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

from machine import describe  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.domain.entities import PriorityClass, Queue, QueueTicket, TicketEvent  # noqa: E402
from shared.domain.queue_rules import order_for  # noqa: E402

DAY = dt.date(2026, 11, 22)
OPEN = dt.datetime(2026, 11, 22, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai
CLASSES: tuple[PriorityClass, ...] = ("normal",) * 14 + ("military", "disabled", "returning", "emergency")
ROOMS = [f"room-{n}" for n in range(6)]


def machine() -> str:
    return describe()


def _loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "n/a"


def build(count: int, rng: random.Random, now: dt.datetime) -> list[QueueTicket]:
    """``count`` tickets: about a sixth already called or done, the rest waiting with every rule at work."""
    tickets: list[QueueTicket] = []
    minutes_open = (now - OPEN) / dt.timedelta(minutes=1)
    for n in range(count):
        at = OPEN + dt.timedelta(minutes=rng.uniform(0, minutes_open))
        appointment = rng.random() < 0.6
        slot = at + dt.timedelta(minutes=rng.choice((-40, -10, 0, 10, 30, 90))) if appointment else None
        events = [TicketEvent(no=1, kind="check_in", at=at, by="nurse")]
        status = "waiting"
        roll = rng.random()
        if roll < 0.15:
            events.append(TicketEvent(no=2, kind="call", at=at + dt.timedelta(minutes=5), by="nurse"))
            status = "called" if roll < 0.03 else "done"
            if status == "done":
                events.append(TicketEvent(no=3, kind="start", at=at + dt.timedelta(minutes=6), by="doc"))
                events.append(TicketEvent(no=4, kind="finish", at=at + dt.timedelta(minutes=12), by="doc"))
        tickets.append(
            QueueTicket(
                id=f"ticket-{n:05d}",
                campus_id="c",
                queue_id="q",
                day=DAY,
                number=n + 1,
                label=f"A{n + 1:03d}",
                number_key=f"q:{n + 1}",
                patient_id=f"p{n}",
                slot_time=slot,
                source="appointment" if appointment else "walk_in",
                birth_date=dt.date(rng.randint(1930, 2020), 1, 1),
                priority=rng.choice(CLASSES),
                status=status,  # type: ignore[arg-type]
                room_id=rng.choice(ROOMS) if rng.random() < 0.2 else None,
                checked_in_at=at,
                events=events,
            )
        )
    waiting = [t for t in tickets if t.status == "waiting"]
    for moved in rng.sample(waiting, 40):  # returned after 3 others, or moved by a nurse
        anchors = [a.id for a in rng.sample(waiting, 3) if a.id != moved.id]
        kind = rng.choice(("return", "reorder"))
        event = TicketEvent(
            no=len(moved.events) + 1,
            kind=kind,
            at=now - dt.timedelta(minutes=rng.uniform(0, 30)),
            by="nurse",
            anchors=anchors if kind == "return" else anchors[:1],
            position="after" if kind == "return" else rng.choice(("before", "after")),
        )
        moved.events.append(event)
    return tickets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    now = OPEN + dt.timedelta(hours=3)
    tickets = build(args.tickets, random.Random(args.seed), now)
    waiting = sum(t.status == "waiting" for t in tickets)
    out = sys.stdout
    out.write(f"machine: {machine()}\n")
    out.write(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average {_loadavg()}\n")
    out.write(f"tickets: {len(tickets)} ({waiting} waiting), repeat {args.repeat}\n")
    rules = {
        "second_queue_cap": 2,
        "skip_reinsert_after": 3,
        "starvation_guard_minutes": 120,
        "early_minutes": 30,
        "late_minutes": 15,
        "elderly_age": 70,
        "interleave": [2, 1],
    }
    for policy in ("strict_priority", "interleave", "weighted_wait"):
        queue = Queue(
            id="q",
            campus_id="c",
            code="Q",
            name="Q",
            room_ids=ROOMS,
            paused_rooms=ROOMS[-1:],
            policy=policy,  # type: ignore[arg-type]
            rules=rules,
        )
        order_for(queue, tickets, now)  # warm up
        wall: list[float] = []
        cpu: list[float] = []
        for _ in range(args.repeat):
            started, started_cpu = time.perf_counter(), time.thread_time()
            order = order_for(queue, tickets, now)
            cpu.append((time.thread_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
        wall.sort()
        p95 = wall[int(len(wall) * 0.95) - 1]
        out.write(
            f"{policy:16s} wall: min {wall[0]:5.2f}  median {statistics.median(wall):5.2f}  p95 {p95:5.2f} ms;"
            f"  cpu median {statistics.median(cpu):5.2f} ms  ({len(order.waiting)} placed, "
            f"{sum(len(v) for v in order.doors.values())} at doors)\n"
        )


if __name__ == "__main__":
    main()
