"""How long a PC takes to take in a clinic hub's LAN list: 4,000 other PCs' pending mutations (queue
events and prescriptions), read in pages of 500 and replayed through the shared handlers into the
overlay, one transaction per page (``LocalStore.apply_changes`` with a ``LanPage``).

    PYTHONPATH=. python benchmarks/lan_replay.py [--patients 500] [--prescriptions 750] [--page 500]

A demo server (seeded once) only bootstraps the three PCs; the LAN list is built from the desk's and the
doctor's real outbox entries, as the hub would serve them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server_stub.config import sqlite_url  # noqa: E402
from server_stub.seed.demo import seed_demo  # noqa: E402
from shared.domain.entities import Patient, Prescription, QueueTicket  # noqa: E402
from tests.clinical.support import create_args, doctor_key, first_drugs, register_args, sign_args  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.sync.lan_support import LanFeed, check_in, draft, key_id, take_in  # noqa: E402
from tests.sync.support import make_client, memory_keyring  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--patients", type=int, default=500, help="patients registered and taken through the queue"
    )
    parser.add_argument("--prescriptions", type=int, default=750, help="prescriptions created and signed")
    parser.add_argument("--page", type=int, default=500)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lan-replay-"))
    seed_demo(sqlite_url(folder / "demo.db"), patients=60)
    server = ServerProcess(sqlite_url(folder / "demo.db"), folder / "server.log").start(timeout=120)
    with memory_keyring():
        desk = make_client(folder / "desk.db", server.url, "nurse1")
        doctor = make_client(folder / "doctor.db", server.url, "doctor1")
        b = make_client(folder / "b.db", server.url, "nurse3")
        try:
            session = doctor.store.session()
            assert session is not None
            doctor.store.record("signing_key.register", register_args(session.staff.id, doctor_key()))
            doctor.sync()
            b.sync()
            server.stop()
            hub = LanFeed()
            started = time.perf_counter()
            tickets = []
            for n in range(args.patients):
                pid = f"lan-bench-{n}"
                registered = desk.store.record(
                    "patient.register",
                    {"id": pid, "name": f"患者{n}", "sex": "F", "birth_date": "1990-01-01"},
                )
                patient = desk.store.get(Patient, pid)
                assert patient is not None
                ticket_id, checked = check_in(desk.store, patient)
                hub.add(desk.store, [registered, checked])
                tickets.append(ticket_id)
            for ticket_id in tickets:
                ticket = desk.store.get(QueueTicket, ticket_id)
                assert ticket is not None
                queue_room = ticket.room_id
                steps = [
                    desk.store.record(
                        "queue.call",
                        {"ticket_id": ticket_id, "room_id": queue_room}
                        if queue_room
                        else {"ticket_id": ticket_id},
                    )
                ]
                steps.append(desk.store.record("queue.start", {"ticket_id": ticket_id}))
                steps.append(desk.store.record("queue.finish", {"ticket_id": ticket_id}))
                hub.add(desk.store, steps)
            patients = [p for p in doctor.store.all(Patient) if not p.allergies]
            drug = first_drugs(1)[0]
            for n in range(args.prescriptions):
                rx = draft(doctor.store, patients[n % len(patients)], drug)
                created = doctor.store.record("rx.create", create_args(rx))
                signed = doctor.store.record("rx.sign", sign_args(rx, key_id(doctor.store), doctor_key()))
                hub.add(doctor.store, [created, signed])
            made = time.perf_counter() - started
            total = len(hub.entries)
            started = time.perf_counter()
            pages = take_in(b.store, hub, page=args.page)
            replay = time.perf_counter() - started
            done = sum(1 for t in tickets if (row := b.store.get(QueueTicket, t)) and row.status == "done")
            signed_rx = sum(1 for r in b.store.all(Prescription) if r.status == "signed")
            print(f"LAN mutations: {total} (made on two PCs in {made:.1f} s)")
            print(
                f"replayed on a third PC in pages of {args.page}: {replay:.2f} s total, "
                f"pages {', '.join(f'{p:.2f}' for p in pages)} s"
            )
            print(f"tickets done in the view: {done}/{len(tickets)}; signed prescriptions: {signed_rx}")
            print(
                f"store counts: {b.store.counts()['lan_mutations']} LAN entries, "
                f"{b.store.counts()['lan_overlay_rows']} LAN overlay rows"
            )
        finally:
            for pc in (desk, doctor, b):
                pc.close()
            server.stop()


if __name__ == "__main__":
    main()
