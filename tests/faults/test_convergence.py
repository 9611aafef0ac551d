"""Randomized convergence: three PCs go offline and online at random while working; at the end every
mutation is applied exactly once or rejected with a reason, and every PC's view equals the server's."""

from __future__ import annotations

import datetime as dt
import logging
import random
from pathlib import Path

import pytest

from server_stub.seed.people import make_resident_id
from shared.domain.entities import Department, Patient
from shared.domain.identity import resident_id_facts
from shared.domain.mutations import Rejected
from shared.ids import new_id
from tests.faults.proxy import FaultProxy
from tests.faults.support import assert_exactly_once, assert_same_view, assert_store_sound
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, make_client

log = logging.getLogger(__name__)

USERS = ("nurse1", "nurse2", "doctor1")
STEPS = 80


def random_phone(rng: random.Random) -> str:
    return f"13{rng.randrange(10**9):09d}"


def act(
    rng: random.Random, pc: ClientPC, proxy: FaultProxy, id_pool: list[str], stats: dict[str, int]
) -> None:
    action = rng.choices(
        ["offline", "online", "register", "update", "visit", "sync", "fault"], weights=[1, 2, 4, 4, 2, 3, 1]
    )[0]
    stats[action] = stats.get(action, 0) + 1
    try:
        if action == "offline":
            proxy.set_offline(True)
        elif action == "online":
            proxy.set_offline(False)
        elif action == "register":
            args = {
                "id": new_id(),
                "name": rng.choice(["赵", "钱", "孙", "李"]) + rng.choice(["一", "二", "三"]),
                "sex": "U",
                "birth_date": "1985-03-04",
                "phone": random_phone(rng),
            }
            if rng.random() < 0.4:  # the same ID card at two desks: the second one is refused somewhere
                args["id_number"] = rng.choice(id_pool)
                birth, sex = resident_id_facts(args["id_number"])  # the ID card's own sex and birth date
                args.update(sex=sex, birth_date=birth.isoformat())
            pc.store.record("patient.register", args)
        elif action == "update":
            patients = pc.store.all(Patient)
            if patients:
                patient = rng.choice(patients[-30:])
                pc.store.record(
                    "patient.update",
                    {"patient_id": patient.id, "phone": random_phone(rng)},
                    base_version=patient.version,
                )
        elif action == "visit":
            session = pc.store.session()
            assert session is not None
            departments = [d for d in pc.store.all(Department) if d.campus_id == session.campus_id]
            patients = pc.store.all(Patient)
            pc.store.record(
                "visit.open",
                {
                    "id": new_id(),
                    "patient_id": rng.choice(patients[-30:]).id,
                    "department_id": rng.choice(departments[:2]).id,
                },
            )
        elif action == "sync":
            pc.sync()
        else:
            rng.choice([proxy.drop_requests, proxy.drop_responses, lambda: proxy.cut_responses_after(1500)])()
    except Rejected:
        stats["refused_locally"] = stats.get("refused_locally", 0) + 1


@pytest.mark.parametrize("seed", [11, 2026])
def test_three_pcs_working_through_random_outages_converge_with_every_mutation_resolved_once(
    server: ServerProcess, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    id_pool = [make_resident_id(rng, dt.date(1980, 1, 1) + dt.timedelta(days=n * 97), "F") for n in range(6)]
    proxies = [FaultProxy(server.port).start() for _ in USERS]
    pcs = [make_client(tmp_path / f"pc{n}.db", proxies[n].url, user) for n, user in enumerate(USERS)]
    stats: dict[str, int] = {}
    try:
        for _ in range(STEPS):
            n = rng.randrange(len(pcs))
            act(rng, pcs[n], proxies[n], id_pool, stats)
        for proxy in proxies:
            proxy.clear_faults()
        for _ in range(3):  # everyone back online: push, then pull what the others pushed
            for pc in pcs:
                pc.sync()
        outcomes = [e.status for pc in pcs for e in pc.store.outbox()]
        log.info("seed %s: %s; outcomes %s", seed, stats, {s: outcomes.count(s) for s in set(outcomes)})
        assert outcomes.count("applied") > 10 and outcomes.count("rejected") > 0, (stats, outcomes)
        for pc, user in zip(pcs, USERS, strict=True):
            assert_store_sound(pc.store)
            assert_exactly_once(server, pc.store)
            assert_same_view(server, pc.store, user)
    finally:
        for pc in pcs:
            pc.close()
        for proxy in proxies:
            proxy.stop()
