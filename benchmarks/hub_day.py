"""A clinic day on the LAN with the central API down the whole day (issue 15, "Figures").

Real processes on loopback: the central API (demo database), a ``CutLink`` (TCP relay) and a clinic hub
(``clinic hub``, enrolled with ``clinic hub-enrol``) whose upstream is the link; 8 PCs, each its own process
(``SyncEngine`` running as the apps run it, ``LocalStore`` on a real file, ``server_url`` = [hub, central]):
2 triage desks (nurse1, nurse3), 4 doctors, 2 pharmacy PCs (pharmacist1, pharmacist3). Everybody logs in
through the hub while the link is up (the hub keeps their verifiers), registers signing keys, then the
link is cut for the whole day:

- the desks check in ``--patients`` patients (paced at ``--rate`` check-ins per second in all): the
  campus's patients the PC holds (a few hundred in the demo), then walk-ins they register first;
- each doctor takes the waiting tickets of its share, calls, starts, writes and signs one prescription
  (``--rx`` of them in all) and finishes: with the check-in, 4 queue events per patient;
- each pharmacy PC takes the signed prescriptions of its share, reviews (signed approval with a pickup
  code) and dispenses them (first expiry first out from the demo stock).

LAN fan-out: for each mutation, from the moment its PC's push answer from the hub says ``shared`` to
the moment each other PC's ``apply_changes`` with the page that carried it has committed (the entry is
replayed into that PC's view). Then the link is restored: the time until the hub's backlog is 0 and every
PC has converged (no unresolved outbox entry, LAN list empty, its view of the day's tickets and
prescriptions equal to the central API's rows). Lost: a mutation a PC recorded that the central API has
no outcome for; doubled: two tickets for one patient, two prescriptions with one number, two dispenses
of one prescription, or a mutation in the central log no PC recorded.

    PYTHONPATH=. .venv/bin/python benchmarks/hub_day.py [--small] [--patients 500] [--rate 4]

Targets (issue 15): fan-out p95 <= 1 s; converged within 2 minutes of the link's return; 0 lost, 0 doubled.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PIN = "246810"  # tests.pharmacy_domain.support's: review_args signs with it (sign_args: the clinical one)
PICKUP = "482913"
DESKS = ["nurse1", "nurse3"]
PHARMACISTS = ["pharmacist1", "pharmacist3"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def share(entity_id: str, parts: int) -> int:
    return zlib.crc32(entity_id.encode()) % parts


# -- one PC (its own process) ----------------------------------------------------------------------


def pc_main(spec: dict[str, Any], ctl: dict[str, Any]) -> None:
    try:
        _pc(spec, ctl)
    except Exception:  # noqa: BLE001 - report, the parent waits on files
        Path(spec["folder"], f"{spec['name']}.error").write_text(traceback.format_exc())
        raise


def _pc(spec: dict[str, Any], ctl: dict[str, Any]) -> None:
    from shared import clinic_time
    from shared.domain.entities import Patient, Prescription, QueueTicket, SigningKey
    from shared.errors import SuiteError
    from shared.ids import new_id, reference_id
    from shared.security.signing import generate_keypair
    from tests.clinical.support import PIN as CLINICAL_PIN
    from tests.clinical.support import create_args, draft, line, register_args, sign_args
    from tests.pharmacy_domain.support import review_args
    from tests.sync.support import make_client, memory_keyring

    name, role, folder = spec["name"], spec["role"], Path(spec["folder"])
    acks: dict[str, float] = {}
    seen: dict[str, float] = {}
    arrived: dict[str, float] = {}
    errors: list[str] = []
    with memory_keyring():
        pc = make_client(folder / f"{name}.db", spec["urls"], spec["username"], long_poll_seconds=20.0)
        store = pc.store
        push = pc.transport.push

        def timed_push(client_id: str, mutations: list[Any]) -> Any:
            answer = push(client_id, mutations)
            now = time.perf_counter()
            for mutation_id in answer.shared:
                acks.setdefault(mutation_id, now)
            return answer

        pc.transport.push = timed_push  # type: ignore[method-assign]
        pull = pc.transport.pull

        def timed_pull(*args: Any, **kwargs: Any) -> Any:
            answer = pull(*args, **kwargs)
            now = time.perf_counter()
            for entry in answer.lan:
                arrived.setdefault(entry.mutation_id, now)
            return answer

        pc.transport.pull = timed_pull  # type: ignore[method-assign]
        apply = store.apply_changes

        def timed_apply(changes: Any, *, cursor: int, lan: Any = None, **kwargs: Any) -> Any:
            kinds = apply(changes, cursor=cursor, lan=lan, **kwargs)
            if lan is not None and lan.entries:
                now = time.perf_counter()
                for entry in lan.entries:
                    seen.setdefault(entry.mutation_id, now)
            return kinds

        store.apply_changes = timed_apply  # type: ignore[method-assign]
        # where a page's time goes on the store's writer thread: the replay of pending mutations (other
        # PCs' LAN entries and this PC's own), and how many of them each page ran again
        import shared.store.store as store_module

        keys = ("replay", "pages", "lan_runs", "own_runs", "kept", "lan_held")
        spent = {f"{k}{phase}": 0.0 for k in keys for phase in ("", "_after")}

        profile_dir = os.environ.get("HUB_DAY_PROFILE")  # a folder: cProfile of the writer thread's work
        profiler = cProfile.Profile() if profile_dir else None
        real_replay = store_module._replay

        def timed_replay(conn: Any, dirt: Any) -> Any:
            if profiler is not None:
                profiler.enable()
            t0 = time.perf_counter()
            phase = "_after" if ctl["day_over"].is_set() else ""
            try:
                return real_replay(conn, dirt)
            finally:
                if profiler is not None:
                    profiler.disable()
                spent["replay" + phase] += time.perf_counter() - t0
                spent["lan_runs" + phase] += dirt.runs["lan"]
                spent["own_runs" + phase] += dirt.runs["own"]
                spent["kept" + phase] += dirt.runs["kept"]

        real_lan_replay = store_module.lan_replay

        def counted_lan_replay(conn: Any, page: Any, **kwargs: Any) -> Any:
            phase = "_after" if ctl["day_over"].is_set() else ""
            spent["pages" + phase] += 1
            t0 = time.perf_counter()
            try:
                return real_lan_replay(conn, page, **kwargs)
            finally:
                spent["replay" + phase] += time.perf_counter() - t0  # storing it, taking settled ones out
                # the LAN entries this PC holds after the page (what a replay from the first touched
                # entry would have run again)
                spent["lan_held" + phase] += conn.execute("SELECT count(*) FROM lan_mutation").fetchone()[0]

        store_module._replay = timed_replay  # type: ignore[assignment]
        store_module.lan_replay = counted_lan_replay  # type: ignore[assignment]
        session = store.session()
        assert session is not None
        staff = session.staff
        sealed = None
        if role == "doctor":
            sealed = generate_keypair(CLINICAL_PIN)
            store.record("signing_key.register", register_args(staff.id, sealed))
        elif role == "pharmacy":
            sealed = generate_keypair(PIN)
            store.record("signing_key.register", register_args(staff.id, sealed, PIN))
        for _ in range(3):
            pc.sync()
        ctl["ready"].put(name)
        ctl["refresh"].wait()
        for _ in range(2):
            pc.sync()
        key = next((k for k in store.find(SigningKey, staff_id=staff.id) if k.revoked_at is None), None)
        ctl["ready"].put(name)
        ctl["go"].wait()

        stop = threading.Event()
        engine = threading.Thread(target=pc.engine.run, args=(stop,), daemon=True)
        engine.start()
        day = clinic_time.day_of(dt.datetime.now(dt.UTC), store.clinic_zone())  # the hospital's day

        def record(mutation: str, args: dict[str, Any]) -> bool:
            try:
                store.record(mutation, args)
            except SuiteError as error:
                errors.append(f"{mutation}: {error}")
                return False
            pc.engine.wake()
            return True

        if role == "desk":
            from triage_desk import model

            queue = next(q for q in model.area_queues(store, session.campus_id) if q.room_ids)
            slot = spec["index"] + 1
            visible = sorted(p.id for p in store.all(Patient))  # this campus's patients (a few hundred)
            patients: list[str | None] = list(visible[: spec["count"]][spec["index"] :: spec["of"]])
            # beyond them, walk-ins: registered at the desk (offline: a number from the device's slot)
            patients += [None] * (len(range(spec["index"], spec["count"], spec["of"])) - len(patients))
            interval = spec["interval"]
            started = time.perf_counter()
            for n, patient_id in enumerate(patients):
                wait = started + n * interval - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                if patient_id is None:
                    patient_id = new_id()
                    if not record(
                        "patient.register",
                        {"id": patient_id, "name": f"散客{name}{n}", "sex": "F", "birth_date": "1990-01-01"},
                    ):
                        continue
                with store.reading() as view:
                    number = model.next_number(
                        view, queue, model.local_day(dt.datetime.now(dt.UTC)), slot, device_id=store.device_id
                    )
                if record(
                    "queue.check_in",
                    {"id": new_id(), "queue_id": queue.id, "patient_id": patient_id, "number": number},
                ):
                    ctl["checked_in"].put(1)
            ctl["desk_done"].put(name)
        elif role == "doctor":
            drugs = spec["drugs"]
            numbers: list[str] = []
            handled: set[str] = set()
            while not ctl["day_over"].is_set():
                waiting = [
                    t
                    for t in store.find(QueueTicket, day=day, status="waiting")
                    if t.id not in handled and share(t.id, spec["of"]) == spec["index"]
                ]
                if not waiting:
                    time.sleep(0.05)
                    continue
                for ticket in waiting:
                    handled.add(ticket.id)
                    room = {"room_id": ticket.room_id} if ticket.room_id else {}
                    if not record("queue.call", {"ticket_id": ticket.id, **room}):
                        continue
                    record("queue.start", {"ticket_id": ticket.id})
                    patient = store.get(Patient, ticket.patient_id)
                    if patient is not None and ctl["rx_left"].get_nowait_counter():
                        drug = drugs[len(numbers) % len(drugs)]
                        rx = draft(patient, staff, [line(drug)], device_id=store.device_id, existing=numbers)
                        numbers.append(rx.number)
                        if (
                            record("rx.create", create_args(rx))
                            and key is not None
                            and record("rx.sign", sign_args(rx, key.id, sealed))
                        ):
                            ctl["signed"].put(1)
                    record("queue.finish", {"ticket_id": ticket.id})
                    ctl["finished"].put(1)
        elif role == "pharmacy":
            pharmacy_id = reference_id("pharmacy", "MAIN-WY")
            done: set[str] = set()
            while not ctl["day_over"].is_set():
                signed = [
                    rx
                    for rx in store.find(Prescription, status="signed")
                    if rx.id not in done and share(rx.id, spec["of"]) == spec["index"] and rx.day == day
                ]
                if not signed:
                    time.sleep(0.05)
                    continue
                for rx in signed:
                    done.add(rx.id)
                    ctl["handled"].put(1)
                    assert key is not None and sealed is not None
                    if not record(
                        "rx.review",
                        review_args(rx, reviewer_id=staff.id, key=sealed, key_row=key, pickup_code=PICKUP),
                    ):
                        continue
                    if record(
                        "rx.dispense",
                        {"id": new_id(), "rx_id": rx.id, "pharmacy_id": pharmacy_id, "pickup_code": PICKUP},
                    ):
                        ctl["dispensed"].put(1)

        # the day is over: report how this PC stands until told to stop
        ctl["day_over"].wait()
        status_file = folder / f"{name}.status.json"
        while not ctl["stop"].is_set():
            with store.reading() as view:
                conn = view.conn
                unresolved = conn.execute(
                    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent')"
                ).fetchone()[0]
                unshared = conn.execute(
                    "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent') AND shared_at IS NULL"
                ).fetchone()[0]
                lan = conn.execute("SELECT count(*) FROM lan_mutation").fetchone()[0]
            tickets = {t.id: t.status for t in store.find(QueueTicket, day=day)}
            rxs = {r.id: r.status for r in store.find(Prescription, day=day)}
            state = {
                "unresolved": unresolved,
                "unshared": unshared,
                "lan": lan,
                "tickets": tickets,
                "rx": rxs,
                "at": time.perf_counter(),
            }
            tmp = status_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, status_file)
            ctl["stop"].wait(0.5)
        stop.set()
        pc.engine.wake()
        engine.join(30)
        with store.reading() as view:
            outbox = {
                m: (n, s)
                for m, n, s in view.conn.execute("SELECT mutation_id, name, status FROM outbox").fetchall()
            }
        result = {
            "spent": spent,
            "acks": acks,
            "seen": seen,
            "arrived": arrived,
            "outbox": outbox,
            "errors": errors,
        }
        (folder / f"{name}.result.json").write_text(json.dumps(result))
        if profiler is not None and profile_dir:
            profiler.dump_stats(str(Path(profile_dir) / f"{name}.prof"))
        pc.close()


# -- the parent: central, link, hub, the day, the return ------------------------------------------


class Counter:
    """A count shared by processes, with a budget: ``get_nowait_counter`` takes one while any is left."""

    def __init__(self, ctx: Any, budget: int) -> None:
        self.value = ctx.Value("i", budget)

    def get_nowait_counter(self) -> bool:
        with self.value.get_lock():
            if self.value.value <= 0:
                return False
            self.value.value -= 1
            return True


def save_snapshot(target: Path, central_db: Path, hub_db: Path, credential: str) -> None:
    """Copies of the central's and the hub's databases as they stand (SQLite's backup API, the servers
    running) and the hub's credential: ``benchmarks/relay_throughput.py`` relays that backlog again."""
    target.mkdir(parents=True, exist_ok=True)
    for source, name in ((central_db, "central.db"), (hub_db, "hub.db")):
        with (
            contextlib.closing(sqlite3.connect(source)) as db,
            contextlib.closing(sqlite3.connect(target / name)) as copy,
        ):
            db.backup(copy)
    key = central_db.with_name(central_db.name + ".audit-key")  # the audit chain's key beside it
    if key.exists():
        shutil.copy(key, target / "central.db.audit-key")
    (target / "credential.txt").write_text(credential)
    print(f"snapshot of the day's end in {target}")


def drain(queue: Any) -> int:
    count = 0
    with contextlib.suppress(Exception):
        while True:
            queue.get_nowait()
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a quick run: 60 patients, 60 prescriptions")
    parser.add_argument("--patients", type=int, default=500, help="patients checked in (4 queue events each)")
    parser.add_argument("--rx", type=int, default=500, help="prescriptions signed, reviewed and dispensed")
    parser.add_argument("--rate", type=float, default=4.0, help="check-ins per second, both desks together")
    parser.add_argument("--doctors", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if args.small:
        args.patients, args.rx = 60, 60

    import httpx
    from client_common import machine

    from server_stub.config import sqlite_url
    from server_stub.seed.demo import seed_demo
    from shared import clinic_time
    from tests.support.hub import CutLink, HubProcess, enrol_hub
    from tests.support.server import ServerProcess

    folder = Path(tempfile.mkdtemp(prefix="hub-day-"))
    print(f"machine: {machine()}")
    print(f"folder: {folder}")
    seed_demo(sqlite_url(folder / "central.db"), patients=1000)
    central_db = folder / "central.db"
    central = ServerProcess(sqlite_url(central_db), folder / "central.log").start(timeout=120)
    hospital_zone = clinic_time.zone_named(httpx.get(f"{central.url}/healthz", timeout=10).json()["timezone"])
    link = CutLink(central.port)
    hub = HubProcess(
        link.url,
        folder / "hub.db",
        folder / "hub.log",
        credential=enrol_hub(central, name="bench hub", timeout=120),
    ).start(timeout=60)
    procs: list[Any] = []
    ctx = mp.get_context("spawn")
    try:
        hub.wait_upstream(True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            facts = httpx.get(f"{hub.url}/hub/status", timeout=10).json()
            if facts.get("central_head") and int(facts["replica_cursor"]) >= int(facts["central_head"]):
                break
            time.sleep(0.2)
        with contextlib.closing(sqlite3.connect(central_db)) as db:
            main_campus = db.execute("SELECT id FROM campus WHERE code = 'MAIN'").fetchone()[0]
            doctors = [
                u
                for (u,) in db.execute(
                    "SELECT username FROM staff WHERE roles LIKE '%doctor%' AND campus_id = ? ORDER BY username",
                    (main_campus,),
                )
            ][: args.doctors]
            # the drugs the main pharmacy holds most of (in date), so dispensing never runs short
            drugs = [
                name
                for (name,) in db.execute(
                    "SELECT d.generic_name FROM stock_batch b JOIN drug d ON d.id = b.drug_id "
                    "JOIN pharmacy p ON p.id = b.pharmacy_id WHERE p.code = 'MAIN-WY' "
                    "AND b.expiry > date('now', '+60 day') GROUP BY d.id ORDER BY sum(b.quantity) DESC LIMIT 6"
                )
            ]
        ctl = {
            "ready": ctx.Queue(),
            "refresh": ctx.Event(),
            "go": ctx.Event(),
            "day_over": ctx.Event(),
            "stop": ctx.Event(),
            "checked_in": ctx.Queue(),
            "finished": ctx.Queue(),
            "dispensed": ctx.Queue(),
            "signed": ctx.Queue(),
            "handled": ctx.Queue(),
            "desk_done": ctx.Queue(),
            "rx_left": Counter(ctx, args.rx),
        }
        urls = [hub.url, central.url]
        interval = len(DESKS) / args.rate
        specs = [
            {
                "name": f"desk{n + 1}",
                "role": "desk",
                "username": u,
                "index": n,
                "of": len(DESKS),
                "count": args.patients,
                "interval": interval,
            }
            for n, u in enumerate(DESKS)
        ]
        specs += [
            {
                "name": f"doctor{n + 1}",
                "role": "doctor",
                "username": u,
                "index": n,
                "of": len(doctors),
                "drugs": drugs,
            }
            for n, u in enumerate(doctors)
        ]
        specs += [
            {
                "name": f"pharmacy{n + 1}",
                "role": "pharmacy",
                "username": u,
                "index": n,
                "of": len(PHARMACISTS),
            }
            for n, u in enumerate(PHARMACISTS)
        ]
        for spec in specs:
            spec.update(folder=str(folder), urls=urls)
            proc = ctx.Process(target=pc_main, args=(spec, ctl), name=spec["name"], daemon=True)
            proc.start()
            procs.append(proc)

        def gather(what: str, timeout: float = 600) -> None:
            got = 0
            end = time.monotonic() + timeout
            while got < len(specs):
                for spec in specs:
                    error = folder / f"{spec['name']}.error"
                    if error.exists():
                        raise SystemExit(f"{spec['name']} failed:\n{error.read_text()}")
                try:
                    ctl["ready"].get(timeout=1)
                    got += 1
                except Exception:  # noqa: BLE001 - queue.Empty
                    if time.monotonic() > end:
                        raise SystemExit(f"PCs not {what} in time") from None

        started = time.perf_counter()
        gather("logged in")
        ctl["refresh"].set()
        gather("refreshed")
        print(f"8 PCs logged in through the hub and bootstrapped in {time.perf_counter() - started:.0f} s")
        link.cut()
        hub.wait_upstream(False)
        print("link to the central API cut")
        day_started = time.perf_counter()
        ctl["go"].set()
        checked = finished = dispensed = signed = handled = desks_done = 0
        last_report = time.perf_counter()
        last_progress = time.perf_counter()
        while True:
            got = drain(ctl["checked_in"]), drain(ctl["finished"]), drain(ctl["dispensed"])
            if any(got):
                last_progress = time.perf_counter()
            more = drain(ctl["signed"]), drain(ctl["handled"]), drain(ctl["desk_done"])
            if any(more):
                last_progress = time.perf_counter()
            checked, finished, dispensed = checked + got[0], finished + got[1], dispensed + got[2]
            signed, handled, desks_done = signed + more[0], handled + more[1], desks_done + more[2]
            for spec in specs:
                error = folder / f"{spec['name']}.error"
                if error.exists():
                    raise SystemExit(f"{spec['name']} failed:\n{error.read_text()}")
            if desks_done == len(DESKS) and finished >= checked and handled >= signed:
                break
            if time.perf_counter() - last_progress > 120:
                print("no progress for 2 minutes: ending the day")
                break
            if time.perf_counter() - last_report > 30:
                last_report = time.perf_counter()
                print(
                    f"  {time.perf_counter() - day_started:.0f} s: checked in {checked}, "
                    f"finished {finished}, dispensed {dispensed}"
                )
            time.sleep(0.5)
        day = time.perf_counter() - day_started
        print(
            f"day: {day:.0f} s; checked in {checked}, finished {finished}; prescriptions signed {signed}, "
            f"taken by the pharmacy {handled}, dispensed {dispensed}"
        )
        ctl["day_over"].set()

        def statuses() -> dict[str, dict[str, Any]]:
            out = {}
            for spec in specs:
                path = folder / f"{spec['name']}.status.json"
                with contextlib.suppress(OSError, ValueError):
                    out[spec["name"]] = json.loads(path.read_text())
            return out

        # every push of the day answered (shared) and the LAN list read everywhere before the return
        end = time.monotonic() + 120
        while time.monotonic() < end:
            now = statuses()
            if len(now) == len(specs) and all(s["unshared"] == 0 for s in now.values()):
                break
            time.sleep(0.5)
        time.sleep(3)
        backlog = hub.health()["hub"]["backlog"]  # type: ignore[index]
        print(f"hub backlog at the end of the day: {backlog}")
        snapshot = os.environ.get("HUB_DAY_SNAPSHOT")  # a folder: the day's end for relay_throughput.py
        if snapshot:
            save_snapshot(Path(snapshot), central_db, folder / "hub.db", hub.credential)

        restored = time.perf_counter()
        link.restore()
        relayed_at = converged_at = None
        lagging = ""
        while time.perf_counter() - restored < 600:
            if relayed_at is None and hub.health()["hub"]["backlog"] == 0:  # type: ignore[index]
                relayed_at = time.perf_counter() - restored
            now = statuses()
            with contextlib.closing(sqlite3.connect(central_db)) as db:
                day_text = clinic_time.day_of(dt.datetime.now(dt.UTC), hospital_zone).isoformat()
                tickets = dict(db.execute("SELECT id, status FROM queue_ticket WHERE day = ?", (day_text,)))
                rxs = dict(db.execute("SELECT id, status FROM rx WHERE day = ?", (day_text,)))
            lagging = ""
            for pc_name, s in now.items():
                if s["unresolved"] or s["lan"]:
                    lagging = f"{pc_name}: {s['unresolved']} unresolved, {s['lan']} LAN"
                    break
                if s["tickets"] and s["tickets"] != tickets:
                    lagging = f"{pc_name}: tickets differ"
                    break
                if s["rx"] and s["rx"] != rxs:
                    lagging = f"{pc_name}: prescriptions differ"
                    break
            if relayed_at is not None and not lagging and len(now) == len(specs):
                converged_at = time.perf_counter() - restored
                break
            time.sleep(0.5)
        print(
            f"link restored: hub backlog 0 after {relayed_at if relayed_at is None else f'{relayed_at:.1f} s'}"
        )
        if converged_at is None:
            print(f"NOT converged within 600 s ({lagging})")
        else:
            print(
                f"every PC converged (outbox resolved, LAN list empty, same tickets and prescriptions as "
                f"the central API) after {converged_at:.1f} s   (target <= 120 s)"
            )
        ctl["stop"].set()
        for proc in procs:
            proc.join(60)
        results = {}
        for spec in specs:
            path = folder / f"{spec['name']}.result.json"
            if path.exists():
                results[spec["name"]] = json.loads(path.read_text())

        # LAN fan-out
        lags: list[float] = []
        transit: list[float] = []
        by_role: dict[str, list[float]] = {}
        unseen = 0
        for pc_name, result in results.items():
            for mutation_id, acked in result["acks"].items():
                for other, theirs in results.items():
                    if other == pc_name:
                        continue
                    at = theirs["seen"].get(mutation_id)
                    if at is None:
                        unseen += 1
                    else:
                        lags.append(max(0.0, at - acked))
                        by_role.setdefault(other.rstrip("0123456789"), []).append(max(0.0, at - acked))
                        got_at = theirs["arrived"].get(mutation_id)
                        if got_at is not None:
                            transit.append(max(0.0, got_at - acked))
        if lags:
            print(
                f"LAN fan-out over {len(lags)} (mutation, PC) pairs: p50 {percentile(lags, 0.5) * 1000:.0f} ms, "
                f"p95 {percentile(lags, 0.95) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms   (target p95 <= 1000 ms)"
            )
            print(
                f"  of which hub to the other PC's pull answer: p50 {percentile(transit, 0.5) * 1000:.0f} ms, "
                f"p95 {percentile(transit, 0.95) * 1000:.0f} ms (the rest: applying the page)"
            )
            for role_name, values in sorted(by_role.items()):
                print(
                    f"  seen at the {role_name} PCs: p50 {percentile(values, 0.5) * 1000:.0f} ms, "
                    f"p95 {percentile(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
                )
        print(f"pairs where the other PC never read the entry on the LAN: {unseen}")
        for pc_name, result in results.items():
            spent = result["spent"]
            print(
                f"  {pc_name}: the day: {spent['pages']:.0f} pages applied, replay {spent['replay']:.1f} s "
                f"(ran {spent['lan_runs']:.0f} LAN entries, {spent['own_runs']:.0f} own pending, kept "
                f"{spent['kept']:.0f} whose reads held; LAN entries held "
                f"{spent['lan_held'] / max(spent['pages'], 1):.0f} per page); after: {spent['pages_after']:.0f} pages, "
                f"replay {spent['replay_after']:.1f} s (ran {spent['lan_runs_after']:.0f} LAN entries, "
                f"{spent['own_runs_after']:.0f} own pending, kept {spent['kept_after']:.0f}; LAN entries held "
                f"{spent['lan_held_after'] / max(spent['pages_after'], 1):.0f} per page)"
            )

        # lost and doubled
        recorded: dict[str, tuple[str, str]] = {}
        for result in results.values():
            for mutation_id, (name, status) in result["outbox"].items():
                recorded[mutation_id] = (name, status)
        with contextlib.closing(sqlite3.connect(central_db)) as db:
            log_rows = dict(db.execute("SELECT mutation_id, status FROM mutation_log"))
            day_text = clinic_time.day_of(dt.datetime.now(dt.UTC), hospital_zone).isoformat()
            double_tickets = db.execute(
                "SELECT count(*) FROM (SELECT patient_id FROM queue_ticket WHERE day = ? AND voided = 0 "
                "GROUP BY patient_id HAVING count(*) > 1)",
                (day_text,),
            ).fetchone()[0]
            double_rx = db.execute(
                "SELECT count(*) FROM (SELECT number FROM rx GROUP BY number HAVING count(*) > 1)"
            ).fetchone()[0]
            double_dispense = db.execute(
                "SELECT count(*) FROM (SELECT rx_id FROM dispense GROUP BY rx_id HAVING count(*) > 1)"
            ).fetchone()[0]
            by_status = dict(
                db.execute("SELECT status, count(*) FROM rx WHERE day = ? GROUP BY status", (day_text,))
            )
        lost = [m for m in recorded if m not in log_rows]
        rejected = [m for m, (name, status) in recorded.items() if log_rows.get(m) == "rejected"]
        pc_ids = set(recorded)
        day_ids = {m for m in log_rows if m in pc_ids}
        print(
            f"mutations recorded on the PCs: {len(recorded)}; in the central log: {len(day_ids)} "
            f"(rejected there: {len(rejected)})"
        )
        print(
            f"lost: {len(lost)}; doubled: tickets {double_tickets}, rx numbers {double_rx}, "
            f"dispenses {double_dispense}   (target 0 / 0)"
        )
        print(f"prescriptions of the day at the central API by status: {by_status}")
        errors: dict[str, list[str]] = {}
        for r in results.values():
            for e in r["errors"]:
                errors.setdefault(e.split(":")[0], []).append(e)
        print(
            "local refusals while recording: "
            + ("; ".join(f"{len(v)}x {v[0]}" for v in errors.values()) if errors else "none")
        )
        return 0
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        hub.stop()
        link.close()
        central.stop()


if __name__ == "__main__":
    raise SystemExit(main())
