"""The hub with an enrolled credential (``clinic hub-enrol`` at the central API): its replica of the
campus feed serves the PCs while the link is cut, and what they pushed meanwhile is relayed when it
returns, settled entries coming back to every PC as applied or rejected."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from shared.ids import new_id
from tests.hub.conftest import Clinic
from tests.support.api import ApiUser, patient_args
from tests.support.hub import HubProcess, enrol_hub, until
from tests.support.server import ServerProcess

pytest.importorskip("server_stub.api.routes.hub", reason="needs the central API's hub routes (hubcentral)")


def enrol(central: ServerProcess, campus: str = "MAIN") -> str:
    """A credential from ``clinic hub-enrol`` on the central's database (printed once, last line)."""
    return enrol_hub(central, campus)


def _all(user: ApiUser, **params: Any) -> tuple[list[dict[str, Any]], int]:
    changes: list[dict[str, Any]] = []
    cursor = 0
    while True:
        page = user.http.get("/api/v1/sync/pull", params={"cursor": cursor, "limit": 2000, **params}).json()
        changes.extend(page["changes"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return changes, cursor


def _latest(changes: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["kind"], c["id"]): c["data"] for c in changes}


def test_offline_the_hub_serves_each_role_the_same_view_as_the_central_api(enrolled: Clinic) -> None:
    until(enrolled.hub.caught_up, what="replica caught up")
    nurse = ApiUser(enrolled.hub.url, "nurse1")
    admin = ApiUser(enrolled.hub.url, "admin", campus_id=nurse.campus_id)
    online = {user.staff["username"]: _latest(_all(user)[0]) for user in (nurse, admin)}
    enrolled.link.cut()
    enrolled.hub.wait_upstream(False)
    for user in (nurse, admin):
        offline = _latest(_all(user)[0])
        assert offline == online[user.staff["username"]], f"{user.staff['username']} sees what central shows"
    patients = [
        data for (kind, _), data in online["admin"].items() if kind == "patient" and data.get("id_number")
    ]
    assert patients and all("*" in p["id_number"] for p in patients), "IT's view stays masked"


def test_offline_bootstrap_from_the_replica_has_the_central_snapshot(enrolled: Clinic) -> None:
    until(enrolled.hub.caught_up, what="replica caught up")
    nurse = ApiUser(enrolled.hub.url, "nurse1")
    central = {(c["kind"], c["id"]): c["version"] for c in nurse.snapshot()}
    enrolled.link.cut()
    enrolled.hub.wait_upstream(False)
    lines = []
    with nurse.http.stream("GET", "/api/v1/sync/bootstrap", params={"after": 0}) as answer:
        assert answer.status_code == 200
        lines = [json.loads(line) for line in answer.iter_lines() if line.strip()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    local = {
        (i["change"]["kind"], i["change"]["id"]): i["change"]["version"] for i in lines if i["type"] == "item"
    }
    assert central.items() <= local.items()


def test_what_the_lan_did_offline_is_relayed_in_order_when_the_link_returns(enrolled: Clinic) -> None:
    nurse = ApiUser(enrolled.hub.url, "nurse1")
    doctor = ApiUser(enrolled.hub.url, "doctor1", campus_id=nurse.campus_id)
    enrolled.link.cut()
    enrolled.hub.wait_upstream(False)
    registered = [nurse.envelope("patient.register", patient_args()) for _ in range(3)]
    bad = nurse.envelope("patient.update", {"patient_id": new_id(), "name": "无此人"})
    for envelope in [*registered, bad]:
        assert nurse.push(envelope).json()["shared"] == [envelope["mutation_id"]]
    lan_next = doctor.http.get("/api/v1/sync/pull", params={"lan_after": 0}).json()["lan_next"]
    enrolled.link.restore()
    until(lambda: enrolled.hub.health()["hub"]["backlog"] == 0, what="backlog drained")  # type: ignore[index]
    settled = doctor.http.get("/api/v1/sync/pull", params={"lan_after": lan_next}).json()["lan"]
    status = {e["mutation_id"]: (e["status"], e["seq"]) for e in settled}
    for envelope in registered:
        assert status[envelope["mutation_id"]][0] == "applied" and status[envelope["mutation_id"]][1]
    assert status[bad["mutation_id"]][0] == "rejected"
    replay = nurse.push(*registered, bad).json()
    assert replay["shared"] == [] and [o["status"] for o in replay["outcomes"]] == ["applied"] * 3 + [
        "rejected"
    ]
    direct = ApiUser(enrolled.central.url, "nurse1")
    patients = {c["id"] for c in _all(direct)[0] if c["kind"] == "patient"}
    ids = {o["result"]["patient_id"] for o in replay["outcomes"][:3]}
    assert ids <= patients, "the central feed has them"


def test_a_hub_killed_with_a_backlog_relays_it_after_restart(enrolled: Clinic) -> None:
    nurse = ApiUser(enrolled.hub.url, "nurse1")
    enrolled.link.cut()
    enrolled.hub.wait_upstream(False)
    envelopes = [nurse.envelope("patient.register", patient_args()) for _ in range(4)]
    for envelope in envelopes:
        assert nurse.push(envelope).status_code == 200
    enrolled.hub.kill()
    enrolled.link.restore()
    enrolled.hub = HubProcess(
        enrolled.link.url,
        enrolled.hub.db_path,
        enrolled.hub.log_path,
        credential=enrolled.hub.credential,
        port=enrolled.hub.port,
    ).start()
    until(lambda: enrolled.hub.health()["hub"]["backlog"] == 0, what="backlog drained")  # type: ignore[index]
    direct = httpx.Client(base_url=enrolled.central.url, headers={"Authorization": f"Bearer {nurse.token}"})
    again = direct.post(
        "/api/v1/sync/push", json={"client_id": nurse.client_id, "mutations": envelopes}
    ).json()
    assert [o["status"] for o in again["outcomes"]] == ["applied"] * 4 and all(
        o["replayed"] for o in again["outcomes"]
    )


def test_a_revoked_hub_stops_relaying_and_says_so(enrolled: Clinic) -> None:
    nurse = ApiUser(enrolled.hub.url, "nurse1")
    enrolled.link.cut()
    enrolled.hub.wait_upstream(False)
    assert nurse.push(nurse.envelope("patient.register", patient_args())).status_code == 200
    hub_id = enrolled.hub.credential.split(".", 1)[0].removeprefix("hub_")
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub-revoke", "--db", enrolled.central.db_url, hub_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    enrolled.link.restore()
    until(lambda: enrolled.hub.status().get("upstream_revoked") == "1", what="revocation noticed")
    assert enrolled.hub.status()["backlog"] == 1
