"""The clinic hub between real PCs' HTTP clients and a real central API on loopback, the WAN link cut
and restored with a TCP relay: invisible while the central API answers, the clinic's LAN while not."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import httpx

from tests.hub.conftest import Clinic
from tests.support.api import ApiUser, patient_args
from tests.support.hub import HubProcess


def _pull(user: ApiUser, **params: Any) -> httpx.Response:
    return user.http.get("/api/v1/sync/pull", params=params, timeout=60.0)


def test_the_hub_says_it_is_a_hub_with_its_epoch_and_link(clinic: Clinic) -> None:
    health = clinic.hub.health()
    assert health["role"] == "hub"
    hub = health["hub"]
    assert isinstance(hub, dict)
    assert hub["hub_id"] == "test" and hub["epoch"] and hub["upstream"] is True and hub["backlog"] == 0


def test_online_the_hub_is_invisible_pulls_and_pushes_answer_as_the_central_api(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1")
    direct = httpx.Client(base_url=clinic.central.url, headers={"Authorization": f"Bearer {nurse.token}"})
    through = _pull(nurse, cursor=0, limit=300).json()
    straight = direct.get("/api/v1/sync/pull", params={"cursor": 0, "limit": 300}).json()
    assert through["changes"] == straight["changes"] and through["next_cursor"] == straight["next_cursor"]
    assert through["lan"] == [] and through["hub"]["upstream"] is True
    outcome = nurse.push_one("patient.register", patient_args())
    assert outcome["status"] == "applied" and outcome["seq"] and outcome["result"]["mrn"]
    after = direct.get("/api/v1/sync/pull", params={"cursor": outcome["seq"] - 1}).json()
    assert [c["id"] for c in after["changes"] if c["kind"] == "patient"] == [outcome["result"]["patient_id"]]
    direct.close()


def test_with_the_link_cut_a_push_is_shared_and_another_pcs_long_poll_gets_it(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1")
    doctor = ApiUser(clinic.hub.url, "doctor1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    answers: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: answers.append(_pull(doctor, cursor=0, wait=25, lan_after=0)))
    first = _pull(doctor, cursor=0, lan_after=0).json()
    assert first["lan"] == [] and first["hub"]["upstream"] is False
    waiting.start()
    envelope = nurse.envelope("patient.register", patient_args(name="王小明"))
    pushed = nurse.push(envelope)
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["shared"] == [envelope["mutation_id"]] and pushed.json()["outcomes"] == []
    waiting.join(30)
    assert answers and answers[0].status_code == 200
    lan = answers[0].json()["lan"]
    assert [(e["mutation_id"], e["status"], e["staff_id"]) for e in lan] == [
        (envelope["mutation_id"], "pending", nurse.staff["id"])
    ]
    assert lan[0]["args"]["name"] == "王小明" and answers[0].json()["lan_next"] == lan[0]["hub_seq"]
    assert clinic.hub.health()["hub"]["backlog"] == 1  # type: ignore[index]


def test_a_re_push_is_a_replay_and_a_gap_is_refused_like_the_central_api(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    one, two, three = (nurse.envelope("patient.register", patient_args()) for _ in range(3))
    assert nurse.push(one).json()["shared"] == [one["mutation_id"]]
    again = nurse.push(one, two).json()
    assert again["shared"] == [one["mutation_id"], two["mutation_id"]] and again["last_client_seq"] == 2
    skipped = nurse.push({**three, "client_seq": 4})
    assert skipped.status_code == 409
    assert skipped.json()["code"] == "client_seq_gap" and skipped.json()["detail"]["expected"] == 3
    lan = _pull(nurse, lan_after=0).json()["lan"]
    assert [e["client_seq"] for e in lan] == [1, 2], "held once each, in order"


def test_a_mutation_the_staff_may_not_run_is_held_for_the_central_api_but_not_shared(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    forbidden = nurse.envelope("rx.sign", {"id": "x"})
    assert nurse.push(forbidden).json()["shared"] == [forbidden["mutation_id"]]
    assert _pull(nurse, lan_after=0).json()["lan"] == []
    assert clinic.hub.health()["hub"]["backlog"] == 1  # type: ignore[index]


def test_a_hub_killed_right_after_answering_still_holds_what_it_shared(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    epoch = clinic.hub.health()["hub"]["epoch"]  # type: ignore[index]
    envelopes = [nurse.envelope("patient.register", patient_args()) for _ in range(5)]
    for envelope in envelopes:
        assert nurse.push(envelope).status_code == 200
    clinic.hub.kill()
    restarted = HubProcess(
        clinic.link.url, clinic.hub.db_path, clinic.hub.log_path, port=clinic.hub.port
    ).start()
    clinic.hub = restarted
    assert restarted.health()["hub"]["epoch"] == epoch  # type: ignore[index]
    assert restarted.health()["hub"]["backlog"] == 5  # type: ignore[index]
    lan = _pull(nurse, lan_after=0).json()["lan"]
    assert [e["mutation_id"] for e in lan] == [e["mutation_id"] for e in envelopes]
    replay = nurse.push(envelopes[-1]).json()
    assert replay["shared"] == [envelopes[-1]["mutation_id"]] and len(_pull(nurse).json()["lan"]) == 5


def test_a_hub_on_an_empty_database_is_a_new_epoch(clinic: Clinic) -> None:
    other = clinic.new_hub().start()
    try:
        assert other.health()["hub"]["epoch"] != clinic.hub.health()["hub"]["epoch"]  # type: ignore[index]
    finally:
        other.stop()


def _login(url: str, username: str, password: str, **extra: Any) -> httpx.Response:
    body = {"username": username, "password": password, "device_id": "pc-offline-1", **extra}
    return httpx.post(f"{url}/api/v1/auth/login", json=body, headers={"Accept-Language": "en"}, timeout=30)


def test_offline_login_works_only_for_staff_who_logged_in_through_the_hub_and_locks_out(
    clinic: Clinic,
) -> None:
    ApiUser(clinic.hub.url, "nurse1")
    ApiUser(clinic.hub.url, "nurse2")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    # no verifier for doctor1 here: the hub cannot decide, so it answers as an unreachable central API
    # (the PC then offers its own offline unlock), never "wrong password"
    stranger = _login(clinic.hub.url, "doctor1", "Demo-2026")
    assert stranger.status_code == 503 and stranger.json()["code"] == "central_unreachable"
    assert "no recent login" in stranger.json()["message"]
    offline = _login(clinic.hub.url, "nurse1", "Demo-2026")
    assert offline.status_code == 200, offline.text
    token = offline.json()["token"]
    assert token.startswith("hubt_") and offline.json()["staff"]["username"] == "nurse1"
    nurse = httpx.Client(base_url=clinic.hub.url, headers={"Authorization": f"Bearer {token}"})
    assert nurse.get("/api/v1/auth/me").json()["username"] == "nurse1"
    assert nurse.get("/api/v1/sync/pull").status_code == 200
    wrong = [_login(clinic.hub.url, "nurse2", "not-it") for _ in range(5)]
    assert {w.status_code for w in wrong} == {401}
    locked = _login(clinic.hub.url, "nurse2", "Demo-2026")
    assert locked.status_code == 423 and locked.json()["code"] == "account_locked"
    assert nurse.post("/api/v1/auth/logout").status_code == 204
    assert nurse.get("/api/v1/auth/me").status_code == 401


def test_offline_the_hub_refuses_what_it_cannot_serve_in_the_callers_language(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    for lang, text in (("en", "central server"), ("zh-CN", "中心服务器"), ("zh-TW", "中心伺服器")):
        answer = nurse.http.get("/api/v1/audit", headers={"Accept-Language": lang})
        assert answer.status_code == 503 and answer.json()["code"] == "central_unreachable"
        assert text in answer.json()["message"]
    clinic.link.restore()
    clinic.hub.wait_upstream(True)
    assert nurse.http.get("/api/v1/auth/me").json()["username"] == "nurse1"


def test_hub_status_shows_the_link_the_backlog_and_the_pcs(clinic: Clinic) -> None:
    nurse = ApiUser(clinic.hub.url, "nurse1", device_id="triage-pc-3")
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    nurse.push(nurse.envelope("patient.register", patient_args()))
    by_url = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub", "status", "--url", clinic.hub.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_url.returncode == 0, by_url.stderr
    assert "DOWN" in by_url.stdout and "1 waiting" in by_url.stdout and "triage-pc-3" in by_url.stdout
    by_db = subprocess.run(
        [sys.executable, "-m", "shared.cli", "hub", "status", "--db", str(clinic.hub.db_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_db.returncode == 0, by_db.stderr
    assert "1 waiting" in by_db.stdout and "triage-pc-3" in by_db.stdout


def test_the_hub_tells_the_central_apis_time_zone_online_offline_and_after_a_restart(clinic: Clinic) -> None:
    central_zone = httpx.get(f"{clinic.central.url}/healthz", timeout=5.0).json()["timezone"]
    assert central_zone == "Asia/Shanghai"  # the module's central API: CLINIC_TIMEZONE's default
    online = _login(clinic.hub.url, "nurse1", "Demo-2026")
    assert online.status_code == 200 and online.json()["timezone"] == central_zone
    assert clinic.hub.health()["timezone"] == central_zone
    clinic.link.cut()
    clinic.hub.wait_upstream(False)
    offline = _login(clinic.hub.url, "nurse1", "Demo-2026")
    assert offline.status_code == 200 and offline.json()["token"].startswith("hubt_")
    assert offline.json()["timezone"] == central_zone and clinic.hub.health()["timezone"] == central_zone
    # a hub restarted while the link is still down says what it stored
    clinic.hub.stop()
    again = HubProcess(
        clinic.link.url, clinic.hub.db_path, clinic.folder / "hub-again.log", port=clinic.hub.port
    ).start()
    assert again.health()["hub"]["upstream"] is False  # type: ignore[index]
    assert again.health()["timezone"] == central_zone
    assert _login(again.url, "nurse1", "Demo-2026").json()["timezone"] == central_zone
