"""Clinic hubs at the central API over real HTTP: enrolment and revocation, the hub's credential and what
it may do, its campus's feed with every field, and relayed batches applied as pushes by the staff
member and PC they name (every rule again, numbers that never collide, the hub in the audit log)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from server_stub.db.engine import Database
from server_stub.services.entities import write_entities
from shared.domain.entities import SigningKey
from shared.ids import new_id, reference_id
from shared.security.signing import fingerprint
from tests.clinical.support import create_args, doctor_key, draft, first_drugs, line, now, sign_args
from tests.clinical.test_clinical_api import _patient_and_visit, _staff
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

MAIN = reference_id("campus", "MAIN")
EAST = reference_id("campus", "EAST")
CARDIOLOGY = reference_id("queue", "MAIN-NK-Q")
VALID_ID = "11010519491231002X"


def clinic(server: ServerProcess, *args: str) -> str:
    """Run a ``clinic`` command against the server's database; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", *args, "--db", server.db_url],
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Hub:
    """A clinic hub's HTTP client under its credential."""

    def __init__(self, server: ServerProcess, credential: str) -> None:
        self.credential = credential
        self.hub_id = credential.removeprefix("hub_").split(".")[0]
        self.http = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {credential}", "Accept-Language": "en"},
            timeout=30.0,
        )

    def relay(self, *batches: dict[str, Any]) -> httpx.Response:
        return self.http.post("/api/v1/hub/relay", json={"batches": list(batches)})

    def relayed(self, *batches: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.relay(*batches)
        assert response.status_code == 200, response.text
        return response.json()["results"]  # type: ignore[no-any-return]

    def pull_all(self) -> list[dict[str, Any]]:
        changes: list[dict[str, Any]] = []
        cursor = 0
        while True:
            response = self.http.get("/api/v1/sync/pull", params={"cursor": cursor, "limit": 2000})
            assert response.status_code == 200, response.text
            page = response.json()
            changes.extend(page["changes"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return changes


def enrol_by_command(server: ServerProcess, name: str, campus: str) -> Hub:
    out = clinic(server, "hub-enrol", "--name", name, "--campus", campus)
    return Hub(server, out.strip().splitlines()[-1])


def batch(pc: ApiUser, *envelopes: dict[str, Any], campus_id: str | None = None) -> dict[str, Any]:
    """One PC's offline work as its hub relays it: who made it, on which PC, at which campus."""
    return {
        "client_id": pc.client_id,
        "device_id": pc.device_id,
        "staff_id": pc.staff["id"],
        "campus_id": campus_id or pc.campus_id,
        "mutations": list(envelopes),
    }


def made_at(envelope: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    return {**envelope, "occurred_at": at.isoformat()}


def login(server: ServerProcess, username: str, **kw: Any) -> ApiUser:
    user = ApiUser(server.url, username, **kw)
    user.http.headers["Accept-Language"] = "en"
    return user


@pytest.fixture
def users() -> Iterator[list[Any]]:
    opened: list[Any] = []
    yield opened
    for user in opened:
        user.http.close()


def test_a_hub_relays_a_pcs_offline_work_as_that_staff_member_and_the_audit_names_both(
    any_server: ServerProcess, users: list[Any]
) -> None:
    hub = enrol_by_command(any_server, "MAIN clinic hub", "MAIN")
    users.append(hub)
    assert hub.http.get("/api/v1/hub/whoami").json() == {
        "hub_id": hub.hub_id,
        "name": "MAIN clinic hub",
        "campus_id": MAIN,
    }
    desk = login(any_server, "nurse1", desk_slot=1)  # logged in online before the link went down
    users.append(desk)
    offline = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    patient = patient_args(name="欧阳娜娜", id_number=VALID_ID, birth_date="1949-12-31", sex="F")
    ticket_id = new_id()
    envelopes = [
        made_at(desk.envelope("patient.register", patient), offline),
        made_at(
            desk.envelope(
                "queue.check_in",
                {"id": ticket_id, "queue_id": CARDIOLOGY, "patient_id": patient["id"], "number": 101},
            ),
            offline + dt.timedelta(minutes=1),
        ),
    ]
    [result] = hub.relayed(batch(desk, *envelopes))
    assert result["error"] is None and result["last_client_seq"] == 2
    registered, checked_in = result["outcomes"]
    assert registered["status"] == "applied" and registered["result"]["mrn"]
    assert checked_in["status"] == "applied" and checked_in["result"]["label"] == "A101", checked_in

    # the hub relays it again (it was killed before it stored the answer): the same outcomes, nothing twice
    [again] = hub.relayed(batch(desk, *envelopes))
    assert [o["replayed"] for o in again["outcomes"]] == [True, True]
    assert [o["seq"] for o in again["outcomes"]] == [registered["seq"], checked_in["seq"]]

    # the PC itself sees its work in the feed, and so does the hub: its campus, every field
    mine = {c["id"]: c["data"] for c in desk.pull_all()[0]}
    assert mine[ticket_id]["number"] == 101 and mine[patient["id"]]["mrn"] == registered["result"]["mrn"]
    seen = {c["id"]: c for c in hub.pull_all()}
    assert seen[patient["id"]]["data"]["id_number"] == VALID_ID
    assert seen[ticket_id]["data"]["status"] == "waiting"
    it = login(any_server, "admin")  # IT's own pull has the identifiers masked
    users.append(it)
    masked = {c["id"]: c["data"] for c in it.pull_all()[0]}
    assert masked[patient["id"]]["id_number"] != VALID_ID

    # the audit log names the hub besides the nurse, her PC and when she did it; filtered by hub
    auditor = login(any_server, "auditor")
    users.append(auditor)
    entries = auditor.http.get(
        "/api/v1/admin/audit/entries", params={"hub_id": hub.hub_id, "action": "mutation."}
    ).json()["entries"]
    by_target = {e["target"]: e for e in entries}
    entry = by_target[envelopes[0]["mutation_id"]]
    assert entry["action"] == "mutation.patient.register" and entry["outcome"] == "applied"
    assert entry["staff_id"] == desk.staff["id"] and entry["device_id"] == desk.device_id
    assert entry["detail"]["hub_id"] == hub.hub_id
    assert dt.datetime.fromisoformat(entry["detail"]["occurred_at"]) == offline
    assert len(entries) == 2, "the replay wrote no second entry"
    other = auditor.http.get("/api/v1/admin/audit/entries", params={"hub_id": new_id()}).json()
    assert other["entries"] == []

    # the hub's bootstrap: its campus's scope unmasked, audited as the hub's bulk read
    with hub.http.stream("GET", "/api/v1/sync/bootstrap", params={"after": 0}) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.strip()]
    assert any(VALID_ID in line for line in lines)
    reads = auditor.http.get(
        "/api/v1/admin/audit/entries", params={"hub_id": hub.hub_id, "action": "patient.bulk_read"}
    ).json()["entries"]
    assert (
        reads and reads[0]["detail"]["via"] == "bootstrap" and patient["id"] in reads[0]["detail"]["patients"]
    )
    assert reads[0]["staff_id"] is None and reads[0]["target"] == MAIN

    listed = clinic(any_server, "hubs")
    row = next(line for line in listed.splitlines() if line.startswith(hub.hub_id))
    name, campus, _seen, last_relay, revoked = row.split("\t")[1:]
    assert (name, campus, revoked) == ("MAIN clinic hub", "MAIN", "no") and last_relay != "-"


def test_a_hub_may_only_relay_its_campuss_staff_in_their_own_rights_and_nothing_else(
    server: ServerProcess, users: list[Any]
) -> None:
    security = login(server, "security")
    it = login(server, "admin")
    users.extend([security, it])
    refused = it.http.post("/api/v1/admin/hubs", json={"name": "EAST hub", "campus": "EAST"})
    assert refused.status_code == 403, "the system administrator does not enrol hubs"
    enrolled = security.http.post("/api/v1/admin/hubs", json={"name": "EAST hub", "campus": "EAST"})
    assert enrolled.status_code == 201, enrolled.text
    hub = Hub(server, enrolled.json()["credential"])
    users.append(hub)
    assert enrolled.json()["campus_id"] == EAST and hub.hub_id == enrolled.json()["id"]
    listing = it.http.get("/api/v1/admin/hubs").json()
    assert [(h["name"], h["campus_code"], h["revoked_at"]) for h in listing] == [("EAST hub", "EAST", None)]
    assert not any("secret" in key for key in listing[0])

    east_nurse = login(server, "nurse2")
    main_nurse = login(server, "nurse1")
    users.extend([east_nurse, main_nurse])
    assert east_nurse.campus_id == EAST and main_nurse.campus_id == MAIN
    foreign = [main_nurse.envelope("patient.register", patient_args()) for _ in range(2)]
    claims_east = [east_nurse.envelope("patient.register", patient_args())]
    gap = main_nurse.envelope("patient.register", patient_args())  # will be sent without its seq 3
    not_hers = east_nurse.envelope("rx.cancel", {"rx_id": new_id(), "reason": "x"})
    ok = east_nurse.envelope("patient.register", patient_args())
    results = hub.relayed(
        batch(main_nurse, *foreign),  # a MAIN nurse through the EAST hub
        batch(east_nurse, *claims_east, campus_id=MAIN),  # said to come from another campus
    )
    for result in results:
        assert result["error"] is None
        assert {(o["status"], o["code"]) for o in result["outcomes"]} == {("rejected", "hub_scope")}
        assert "not assigned to this campus" in result["outcomes"][0]["message"]
    # stored like any outcome: the PC's outbox moves on, and a replay answers the same
    [replayed] = hub.relayed(batch(main_nurse, *foreign))
    assert [(o["code"], o["replayed"]) for o in replayed["outcomes"]] == [("hub_scope", True)] * 2

    gap = {**gap, "client_seq": 4}
    gapped, second = hub.relayed(batch(main_nurse, gap), batch(east_nurse, not_hers, ok))
    assert gapped["error"]["code"] == "client_seq_gap" and gapped["error"]["detail"]["expected"] == 3
    assert gapped["outcomes"] == []
    refused_role, applied = second["outcomes"]
    assert (refused_role["status"], refused_role["code"]) == ("rejected", "forbidden")
    assert applied["status"] == "applied"
    reused = {**ok, "mutation_id": new_id()}
    [reuse] = hub.relayed(batch(east_nurse, reused))
    assert reuse["error"]["code"] == "client_seq_reused" and reuse["error"]["detail"]["expected"] == 4

    # a hub's credential opens nothing else; a staff token opens no hub endpoint
    for method, path in (
        ("POST", "/api/v1/sync/push"),
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/reference/drug"),
        ("GET", "/api/v1/admin/hubs"),
    ):
        answer = hub.http.request(method, path, json={"client_id": "x", "mutations": []})
        assert answer.status_code == 403 and answer.json()["code"] == "hub_forbidden", (path, answer.text)
    for method, path in (("POST", "/api/v1/hub/relay"), ("GET", "/api/v1/hub/whoami")):
        answer = east_nurse.http.request(method, path, json={"batches": []})
        assert answer.status_code == 403 and answer.json()["code"] == "hub_only", (path, answer.text)

    # revoked: refused at once, with its own code; a made-up credential is just invalid
    revoked = it.http.post(f"/api/v1/admin/hubs/{hub.hub_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    for answer in (hub.http.get("/api/v1/sync/pull"), hub.relay(batch(east_nurse, ok))):
        assert answer.status_code == 401 and answer.json()["code"] == "hub_revoked"
    forged = Hub(server, f"hub_{hub.hub_id}.{'A' * 43}")
    users.append(forged)
    answer = forged.http.get("/api/v1/hub/whoami")
    assert answer.status_code == 401 and answer.json()["code"] == "token_invalid"
    assert it.http.get("/api/v1/admin/hubs").json()[0]["revoked_at"] is not None


def _key_registered(db_url: str, doctor: ApiUser, at: dt.datetime) -> str:
    """The doctor's key for their PC, registered at ``at`` (written directly: older than the test)."""
    sealed = doctor_key()
    row = SigningKey(
        id=new_id(),
        staff_id=doctor.staff["id"],
        public_key=sealed.public_key,
        fingerprint=fingerprint(sealed.public_key),
        registered_at=at,
        device_id=doctor.device_id,
        updated_at=at,
    )
    db = Database.open(db_url, pool_size=1)
    try:
        with db.write() as conn:
            write_entities(conn, [row])
    finally:
        db.dispose()
    return row.id


def test_a_signature_made_on_the_lan_hours_ago_is_judged_by_the_pcs_own_last_contact(
    server: ServerProcess, users: list[Any]
) -> None:
    hub = enrol_by_command(server, "MAIN hub", MAIN)
    doctor = login(server, "doctor1")
    users.extend([hub, doctor])
    start = now()
    key_id = _key_registered(server.db_url, doctor, start - dt.timedelta(hours=6))
    patient, visit_id = _patient_and_visit(doctor)  # pushed online; the PC has not pulled since
    lan_time = start - dt.timedelta(hours=3)
    numbers: list[str] = []

    def signed(at: dt.datetime) -> list[dict[str, Any]]:
        rx = draft(
            patient,
            _staff(doctor),
            [line(first_drugs(1)[0])],
            device_id=doctor.device_id,
            existing=numbers,
            visit_id=visit_id,
            written_at=at,
        )
        numbers.append(rx.number)
        create = made_at(doctor.envelope("rx.create", create_args(rx)), at)
        # relayed apart: a relay is no contact of the PC
        [created] = hub.relayed(batch(doctor, create))
        sign = made_at(doctor.envelope("rx.sign", sign_args(rx, key_id, at=at)), at)
        [result] = hub.relayed(batch(doctor, sign))
        return [*created["outcomes"], *result["outcomes"]]

    created, sign = signed(lan_time)
    assert created["status"] in ("applied", "applied_with_warning"), created
    assert (sign["status"], sign["code"]) == ("applied", None), sign
    _, future = signed(now() + dt.timedelta(hours=1))
    assert (future["status"], future["code"]) == ("rejected", "signed_in_future")
    # once the PC itself reached the central API (it pushes its outbox first), nothing older can arrive
    doctor.pull()
    _, late = signed(lan_time)
    assert (late["status"], late["code"]) == ("rejected", "signed_before_last_contact")


def _campus_doctor(server: ServerProcess, campus_id: str) -> ApiUser:
    for n in range(1, 25):
        user = login(server, f"doctor{n}")
        if user.campus_id == campus_id and not user.staff["campus_ids"]:
            return user
        user.http.close()
    raise AssertionError(f"no doctor of campus {campus_id} only")


def test_two_hubs_of_two_campuses_relaying_offline_work_never_collide_on_a_number(
    server: ServerProcess, users: list[Any]
) -> None:
    main_hub = enrol_by_command(server, "MAIN hub", "MAIN")
    east_hub = enrol_by_command(server, "EAST hub", "EAST")
    desk_a = login(server, "nurse1", desk_slot=1)
    desk_b = login(server, "nurse3", desk_slot=2)
    desk_east = login(server, "nurse2", desk_slot=1)
    main_doctor = _campus_doctor(server, MAIN)
    east_doctor = _campus_doctor(server, EAST)
    users.extend([main_hub, east_hub, desk_a, desk_b, desk_east, main_doctor, east_doctor])
    assert (desk_a.desk_slot, desk_b.desk_slot, desk_east.desk_slot) == (1, 2, 1)
    east_queue = next(
        q["id"]
        for q in (c["data"] for c in desk_east.pull_all()[0] if c["kind"] == "queue")
        if q["campus_id"] == EAST and q["kind"] == "department"
    )

    def desk_work(desk: ApiUser, queue_id: str, first: int) -> tuple[dict[str, Any], list[int]]:
        envelopes, numbers = [], []
        for n in range(3):  # each desk numbers from its own slot, as it does offline
            patient = patient_args()
            envelopes.append(desk.envelope("patient.register", patient))
            args = {"id": new_id(), "queue_id": queue_id, "patient_id": patient["id"], "number": first + n}
            envelopes.append(desk.envelope("queue.check_in", args))
            numbers.append(first + n)
        return batch(desk, *envelopes), numbers

    def doctor_work(doctor: ApiUser) -> tuple[dict[str, Any], list[str]]:
        patient, visit_id = _patient_and_visit(doctor)
        envelopes: list[dict[str, Any]] = []
        numbers: list[str] = []
        for _ in range(3):  # numbered on the PC from its device tag
            rx = draft(
                patient,
                _staff(doctor),
                [line(first_drugs(1)[0])],
                device_id=doctor.device_id,
                existing=numbers,
                visit_id=visit_id,
            )
            numbers.append(rx.number)
            envelopes.append(doctor.envelope("rx.create", create_args(rx)))
        return batch(doctor, *envelopes), numbers

    a, a_numbers = desk_work(desk_a, CARDIOLOGY, 101)
    b, b_numbers = desk_work(desk_b, CARDIOLOGY, 201)
    e, e_numbers = desk_work(desk_east, east_queue, 101)
    main_rx, main_rx_numbers = doctor_work(main_doctor)
    east_rx, east_rx_numbers = doctor_work(east_doctor)
    results = [*main_hub.relayed(a, main_rx), *east_hub.relayed(e, east_rx), *main_hub.relayed(b)]
    outcomes = [o for r in results for o in r["outcomes"]]
    assert all(r["error"] is None for r in results)
    assert {o["status"] for o in outcomes} == {"applied"}, [o for o in outcomes if o["status"] != "applied"]

    labels = {
        (c["data"]["queue_id"], c["data"]["number"])
        for c in desk_a.pull_all()[0] + desk_east.pull_all()[0]
        if c["kind"] == "queue_ticket"
    }
    assert {(CARDIOLOGY, n) for n in a_numbers + b_numbers} <= labels
    assert {(east_queue, n) for n in e_numbers} <= labels
    mrns = [o["result"]["mrn"] for o in outcomes if "mrn" in o["result"]]
    assert len(mrns) == 9 and len(set(mrns)) == 9
    rx_numbers = main_rx_numbers + east_rx_numbers
    assert len(set(rx_numbers)) == 6
    stored = {
        c["data"]["number"]
        for c in main_doctor.pull_all()[0] + east_doctor.pull_all()[0]
        if c["kind"] == "rx"
    }
    assert set(rx_numbers) <= stored


def test_a_large_relay_is_applied_in_hub_order_across_its_steps_and_a_rejection_stays_its_own(
    server: ServerProcess, users: list[Any]
) -> None:
    """One relay request of 60 batches from two PCs, interleaved as a hub orders them, more mutations than
    one step (``relay.STEP_MUTATIONS``): each call depends on the check-in of the batch before it (another
    PC's), so a batch applied out of order is rejected; one call names a ticket nobody checked in."""
    hub = enrol_by_command(server, "MAIN hub", "MAIN")
    desk = login(server, "nurse1", desk_slot=1)
    caller = login(server, "nurse3")
    users.extend([hub, desk, caller])
    room = reference_id("room", "MAIN-NK-01")
    batches: list[dict[str, Any]] = []
    tickets: list[str] = []
    for n in range(30):
        patient = patient_args()
        ticket_id = new_id()
        tickets.append(ticket_id)
        check_in = {"id": ticket_id, "queue_id": CARDIOLOGY, "patient_id": patient["id"], "number": 101 + n}
        batches.append(
            batch(desk, desk.envelope("patient.register", patient), desk.envelope("queue.check_in", check_in))
        )
        called = ticket_id if n != 17 else new_id()  # the 18th call: a ticket that does not exist
        batches.append(batch(caller, caller.envelope("queue.call", {"ticket_id": called, "room_id": room})))
    results = hub.relayed(*batches)

    assert [r["client_id"] for r in results] == [b["client_id"] for b in batches]
    outcomes = [o for r in results for o in r["outcomes"]]
    assert [o["mutation_id"] for o in outcomes] == [m["mutation_id"] for b in batches for m in b["mutations"]]
    assert all(r["error"] is None for r in results)
    refused = [o for o in outcomes if o["status"] == "rejected"]
    assert [o["mutation_id"] for o in refused] == [batches[35]["mutations"][0]["mutation_id"]], refused
    assert refused[0]["code"] and refused[0]["message"]
    assert all(o["status"] in ("applied", "applied_with_warning") for o in outcomes if o not in refused)
    seqs = [o["seq"] for o in outcomes if o not in refused]
    assert seqs == sorted(seqs), "applied in the hub's order"
    assert results[-1]["last_client_seq"] == 30 and results[-2]["last_client_seq"] == 60

    changes, _ = caller.pull_all()
    status = {c["data"]["id"]: c["data"]["status"] for c in changes if c["kind"] == "queue_ticket"}
    assert [status[t] for t in tickets] == ["called"] * 17 + ["waiting"] + ["called"] * 12
