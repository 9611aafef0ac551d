"""Call latency: a ``queue.call`` recorded at one desk PC to audio start and display highlight on another PC.

Setup: a real server process on a fresh demo database; PC A (nurse1) is a desk client running its sync
engine the way the app does (record locally, wake the engine, push); PC B (nurse3) is the waiting-room
display: the real ``DisplayController`` + ``DisplayWindow`` (Qt offscreen) over its own local store and
sync engine (long-poll pull), with the real announcer and composer over the shipped voice pack and a
silent player that reports playback start at once (so "audio start" is when a sound card would start).
Both PCs live in this one process, so one clock (``perf_counter``) times both ends.

For each call: made → seen by B's display (snapshot read after the pull) → audio start → highlight on,
and audio end → highlight off (audio start and end are taken on the speaker's thread as the player reports
them; the highlight on the GUI thread when the window repaints its call panel).
Calls are spaced wider than one announcement so a call never waits behind the previous one in the FIFO.

    .venv/bin/python benchmarks/call_latency.py [--calls 20] [--spacing 10.0] [--workers 1] [--via-hub]

``--via-hub``: a clinic hub (``clinic hub``, enrolled with ``clinic hub-enrol``) runs in front of the
server and both PCs have ``server_url`` = [hub, server], as a clinic with a hub sets them: the same
measurement with the hub proxying (issue 15: within 100 ms of the direct p95).

Targets (issue 4): p95 of call → audio start under 1 s; highlight within 100 ms of audio start.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from client_common import PASSWORD, machine, percentile, server_on_copy  # noqa: E402

from server_stub.config import sqlite_url  # noqa: E402
from server_stub.seed.demo import seed_demo  # noqa: E402
from shared.audio import Announcer, Composer, ComposeSettings, NullPlayer, VoicePack  # noqa: E402
from shared.domain.entities import Patient, QueueTicket  # noqa: E402
from shared.gui.app import ClientRuntime, create_app  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.site import SiteConfig  # noqa: E402
from shared.store import LocalStore  # noqa: E402
from shared.sync import ApiTransport, SyncEngine, TokenStore  # noqa: E402
from tests.support.hub import HubProcess, enrol_hub  # noqa: E402
from triage_desk import model  # noqa: E402
from triage_desk.display import DisplayController, DisplayWindow  # noqa: E402
from triage_desk.state import TriageState  # noqa: E402


def ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:.0f} ms, p95 {percentile(values, 0.95) * 1000:.0f} ms, "
        f"max {max(values) * 1000:.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--spacing", type=float, default=10.0, help="seconds between calls (longer than one announcement)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes (with 2, A and B may reach different ones)"
    )
    parser.add_argument(
        "--via-hub", action="store_true", help="both PCs talk to a clinic hub in front of the server"
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="clinic-call-latency-"))
    seed_demo(sqlite_url(folder / "demo.db"), patients=max(60, args.calls + 10))
    qt_app = create_app(app_name="call-latency")
    with server_on_copy(folder / "demo.db", workers=args.workers) as server, contextlib.ExitStack() as stack:
        urls: str | list[str] = server.url
        if args.via_hub:
            hub = HubProcess(
                server.url,
                folder / "hub.db",
                folder / "hub.log",
                credential=enrol_hub(server, name="bench hub", timeout=120),
            ).start(timeout=60)
            stack.callback(hub.stop)
            hub.wait_upstream(True)
            urls = [hub.url, server.url]
            print(f"via the clinic hub at {hub.url} (upstream {server.url})")
        # PC A: the desk, a plain sync engine on its own thread (as the app's network worker runs it).
        store_a = LocalStore.open(folder / "a" / "triage.db", app="triage")
        engine_a = SyncEngine(
            store_a,
            ApiTransport(urls, timeout=30.0),
            tokens=TokenStore(fallback_file=folder / "a-tokens.bin"),
            long_poll_seconds=5.0,
        )
        engine_a.login("nurse1", PASSWORD)
        stop_a = threading.Event()
        thread_a = threading.Thread(target=engine_a.run, args=(stop_a,), daemon=True)
        thread_a.start()

        # PC B: the display, wired as ``clinic display`` wires it.
        runtime = ClientRuntime.open(
            app="display",
            server_url=urls,
            data_folder=folder / "b",
            tokens=TokenStore(fallback_file=folder / "b-tokens.bin"),
        )
        staff = runtime.engine.login("nurse3", PASSWORD)
        session = runtime.store.session()
        assert session is not None
        runtime.current = LoginResult(staff, session.campus_id, False)
        runtime.start_sync()
        state = TriageState(runtime, site=SiteConfig(server_url=urls), lang="zh_CN")
        window = DisplayWindow("zh_CN")
        window.resize(1920, 1080)
        window.show()
        announcer = Announcer(Composer(VoicePack.default(), ComposeSettings(repeat=1)), NullPlayer())
        controller = DisplayController(state, window, announcer=announcer)

        def pump(until: float, done: object = None) -> None:
            while time.perf_counter() < until:
                qt_app.processEvents()
                if callable(done) and done():
                    return
                time.sleep(0.002)

        pump(
            time.perf_counter() + 120, lambda: not runtime.store.needs_bootstrap() and runtime.store.cursor()
        )
        while store_a.cursor() is None or store_a.needs_bootstrap():
            time.sleep(0.1)
        controller.refresh()
        pump(time.perf_counter() + 5, lambda: controller._seen is not None)

        # Check in the patients to be called (from PC A) and let B see them.
        session_a = store_a.session()
        assert session_a is not None
        queue = next(q for q in model.area_queues(store_a, session_a.campus_id) if q.room_ids)
        now = dt.datetime.now(dt.UTC)
        day = model.local_day(now)
        taken = {t.patient_id for t in store_a.find(QueueTicket, day=day)}
        patients = [p for p in store_a.all(Patient) if p.id not in taken][: args.calls]
        ids = []
        for patient in patients:
            with store_a.reading() as view:
                number = model.next_number(view, queue, day, 1)
            ticket_id = f"lat-{patient.id}"
            store_a.record(
                "queue.check_in",
                {"id": ticket_id, "queue_id": queue.id, "patient_id": patient.id, "number": number},
            )
            ids.append(ticket_id)
        engine_a.wake()
        pump(time.perf_counter() + 60, lambda: runtime.store.get(QueueTicket, ids[-1]) is not None)

        made: dict[str, float] = {}
        rooms = queue.room_ids
        for n, ticket_id in enumerate(ids):
            made[ticket_id] = time.perf_counter()
            store_a.record("queue.call", {"ticket_id": ticket_id, "room_id": rooms[n % len(rooms)]})
            engine_a.wake()
            pump(time.perf_counter() + args.spacing)
        pump(time.perf_counter() + 30, lambda: len(controller.timeline.highlight_off) >= len(ids))

        timeline = controller.timeline
        durations = [
            timeline.audio_end[c] - timeline.audio_start[c]
            for c in timeline.audio_end
            if c in timeline.audio_start
        ]
        by_ticket = {}
        for call_id, event in controller._by_call_id.items():
            by_ticket[event.ticket_id] = call_id
        to_seen, to_audio, highlight_lag, unhighlight_lag = [], [], [], []
        for ticket_id, t0 in made.items():
            call_id = by_ticket.get(ticket_id)
            if call_id is None or call_id not in timeline.audio_start:
                continue
            to_seen.append(timeline.seen[call_id] - t0)
            to_audio.append(timeline.audio_start[call_id] - t0)
            highlight_lag.append(timeline.highlight_on[call_id] - timeline.audio_start[call_id])
            if call_id in timeline.audio_end and call_id in timeline.highlight_off:
                unhighlight_lag.append(timeline.highlight_off[call_id] - timeline.audio_end[call_id])

        controller.stop()
        stop_a.set()
        engine_a.wake()
        runtime.shutdown()
        thread_a.join(10)
        store_a.close()

    print(f"machine: {machine()}")
    print(f"calls made {len(made)}, announced {len(to_audio)} (spacing {args.spacing} s)")
    if not to_audio:
        print("no call reached the display")
        return 1
    print(f"announcement length    : {ms(durations)}")
    print(f"call -> display saw it : {ms(to_seen)}")
    print(f"call -> audio start    : {ms(to_audio)}   (target p95 < 1000 ms)")
    print(f"audio start -> highlight: {ms(highlight_lag)}   (target < 100 ms)")
    if unhighlight_lag:
        print(f"audio end -> highlight off: {ms(unhighlight_lag)}")
    ends = sorted(set(controller.timeline.end_reason.values()))
    print(f"playback ended by      : {', '.join(ends) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
