"""What a pharmacy PC pays to replay the other pharmacy PC's pending ``rx.review`` entries from a clinic
hub's LAN list: each one issues a pickup code, whose digest the handler computes on the replaying PC.

    PYTHONPATH=. python benchmarks/lan_pickup_replay.py [--reviews 200] [--page 100]

A demo server (seeded once) only bootstraps the PCs: a doctor's PC writes and signs the prescriptions, a
pharmacy PC (pharmacist1) approves them with a pickup code each, and the PC under test (pharmacist3, who
receives pickup-code digests) takes in first the prescriptions, then the reviews — timed, in pages — and
then replays its whole overlay from scratch on a copy of its file (``rebuild_overlay``: a re-run of every
entry). Scrypt calls are counted with a wrapper around the real ``hashlib.scrypt``; the process-wide
digest cache is emptied before each timed part (on a real PC the reviewer's hashes are in another process).
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402
from server_stub.config import sqlite_url  # noqa: E402
from server_stub.seed.demo import seed_demo  # noqa: E402
from shared.domain import pickup  # noqa: E402
from shared.domain.entities import Patient, Prescription, SigningKey  # noqa: E402
from shared.ids import reference_id  # noqa: E402
from shared.security.signing import generate_keypair  # noqa: E402
from shared.store.store import connect, rebuild_overlay  # noqa: E402
from tests.clinical.support import create_args, doctor_key, first_drugs, register_args, sign_args  # noqa: E402
from tests.pharmacy_domain.support import PIN, review_args  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.sync.lan_support import CountedScrypt, LanFeed, draft, feed, key_id, take_in  # noqa: E402
from tests.sync.support import make_client, memory_keyring  # noqa: E402

PHARMACY = reference_id("pharmacy", "MAIN-WY")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=200, help="prescriptions approved on the LAN")
    parser.add_argument("--page", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lan-pickup-"))
    seed_demo(sqlite_url(folder / "demo.db"), patients=60)
    server = ServerProcess(sqlite_url(folder / "demo.db"), folder / "server.log").start(timeout=120)
    counted = CountedScrypt()
    hashlib.scrypt = counted  # type: ignore[assignment]
    with memory_keyring():
        doctor = make_client(folder / "doctor.db", server.url, "doctor1")
        pharm = make_client(folder / "pharm.db", server.url, "pharmacist1")
        b = make_client(folder / "b.db", server.url, "pharmacist3")
        try:
            session = doctor.store.session()
            assert session is not None
            doctor.store.record("signing_key.register", register_args(session.staff.id, doctor_key()))
            reviewer = pharm.store.session()
            assert reviewer is not None
            sealed = generate_keypair(PIN)
            pharm.store.record("signing_key.register", register_args(reviewer.staff.id, sealed, PIN))
            for pc in (doctor, pharm, b, doctor, pharm, b):
                pc.sync()
            server.stop()

            hub = LanFeed()
            patients = [p for p in doctor.store.all(Patient) if not p.allergies]
            drug = first_drugs(1)[0]
            ids = []
            for n in range(args.reviews):
                rx = draft(doctor.store, patients[n % len(patients)], drug)
                created = doctor.store.record("rx.create", create_args(rx, pharmacy_id=PHARMACY))
                signed = doctor.store.record("rx.sign", sign_args(rx, key_id(doctor.store), doctor_key()))
                hub.add(doctor.store, [created, signed])
                ids.append(rx.id)
            feed(pharm.store, hub.page_after(pharm.store.lan_after()))
            mine = next(
                k for k in pharm.store.find(SigningKey, staff_id=reviewer.staff.id) if k.revoked_at is None
            )
            started = time.perf_counter()
            for rx_id in ids:
                signed_rx = pharm.store.get(Prescription, rx_id)
                assert signed_rx is not None
                code = f"{secrets.randbelow(10**6):06d}"
                review = review_args(
                    signed_rx, reviewer_id=reviewer.staff.id, key=sealed, key_row=mine, pickup_code=code
                )
                hub.add(pharm.store, [pharm.store.record("rx.review", review)])
            recorded = time.perf_counter() - started
            prescriptions = 2 * args.reviews  # the doctor's entries come first on the list
            while b.store.lan_after() < prescriptions:
                feed(
                    b.store,
                    hub.page_after(b.store.lan_after(), limit=min(500, prescriptions - b.store.lan_after())),
                )

            pickup._slow_digest.cache_clear()
            before = counted.calls
            started = time.perf_counter()
            pages = take_in(b.store, hub, page=args.page)
            replay = time.perf_counter() - started
            replay_scrypt = counted.calls - before
            approved = sum(
                1 for r in b.store.all(Prescription) if r.status == "approved" and r.id in set(ids)
            )

            copy = b.store.backup_to(folder / "b-copy.db")
            conn = connect(copy)
            pickup._slow_digest.cache_clear()
            before = counted.calls
            try:
                t0 = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                rebuild_overlay(conn)
                conn.execute("COMMIT")
                rebuild = time.perf_counter() - t0
            finally:
                conn.close()
            rebuild_scrypt = counted.calls - before

            print(describe())
            print(
                f"local digest key on the PC under test: {getattr(b.store, 'pickup_key_id', None) or 'none'}"
            )
            print(f"{args.reviews} rx.review recorded at the reviewing PC in {recorded:.2f} s")
            print(
                f"taken in at the other pharmacy PC in pages of {args.page}: {replay:.2f} s "
                f"({1000 * replay / args.reviews:.1f} ms per review), scrypt calls {replay_scrypt}; "
                f"pages {', '.join(f'{p:.2f}' for p in pages)} s; approved in its view: {approved}/{args.reviews}"
            )
            print(
                f"its whole overlay ({3 * args.reviews} LAN entries) replayed from scratch: {rebuild:.2f} s, "
                f"scrypt calls {rebuild_scrypt}"
            )
        finally:
            for pc in (doctor, pharm, b):
                pc.close()
            server.stop()


if __name__ == "__main__":
    main()
