"""With the link to the central API cut, the hub answers reference searches and the campus's queue list
from its replica exactly as the central API answered them before the cut (same rows, same order, the
caller's field view, same 401/403/422), and the queue calls it cannot vouch for say where to go."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hub.conftest import Clinic
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.hub import until

SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("drug", {"q": "amx"}),  # pinyin initials of 阿莫西林…
    ("drug", {"q": "阿莫"}),  # name
    ("drug", {"q": "西林", "limit": 3}),  # inside a name, at most 3
    ("drug", {"q": " AMOX "}),  # English name, trimmed and case-insensitive
    ("drug", {"limit": 500}),
    ("diagnosis", {"q": "j"}),
    ("staff", {}),
    ("room", {}),
    ("department", {}),
]


def _answers(http: httpx.Client) -> list[tuple[int, Any]]:
    out = []
    for kind, params in SEARCHES:
        answer = http.get(f"/api/v1/reference/{kind}", params=params)
        out.append((answer.status_code, answer.json()))
    return out


def _offline_token(clinic: Clinic, username: str) -> str:
    answer = httpx.post(
        f"{clinic.hub.url}/api/v1/auth/login",
        json={"username": username, "password": DEMO_PASSWORD, "device_id": f"pc-{username}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    token = str(answer.json()["token"])
    assert token.startswith("hubt_")
    return token


def _without_working_rooms(queues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in q.items() if k != "working_rooms"} for q in queues]


def test_offline_the_hub_answers_searches_and_queues_as_the_central_api_did(enrolled: Clinic) -> None:
    until(enrolled.hub.caught_up, what="replica caught up")
    doctor = ApiUser(enrolled.hub.url, "doctor1")  # online logins leave the hub their verifiers
    nurse = ApiUser(enrolled.hub.url, "nurse1")
    pharmacist = ApiUser(enrolled.hub.url, "pharmacist1")
    central = {
        user.staff["username"]: _answers(
            httpx.Client(base_url=enrolled.central.url, headers={"Authorization": f"Bearer {user.token}"})
        )
        for user in (doctor, nurse)
    }
    assert all(status == 200 for status, _ in central["doctor1"])
    assert [d["code"] for d in central["doctor1"][0][1]][:2] == ["YP000001", "YP000002"]
    assert len(central["doctor1"][2][1]) == 3 and len(central["doctor1"][4][1]) > 100
    online_queues = nurse.http.get("/api/v1/queue")
    assert online_queues.status_code == 200 and online_queues.json(), online_queues.text
    online_forbidden = pharmacist.http.get("/api/v1/queue")
    bad_kind_online = doctor.http.get("/api/v1/reference/drugs")
    assert bad_kind_online.status_code == 422

    enrolled.link.cut()
    enrolled.hub.wait_upstream(False)
    hub_doctor = httpx.Client(
        base_url=enrolled.hub.url, headers={"Authorization": f"Bearer {_offline_token(enrolled, 'doctor1')}"}
    )
    offline = _answers(hub_doctor)
    for (kind, params), (status, rows), (want_status, want) in zip(
        SEARCHES, offline, central["doctor1"], strict=True
    ):
        assert status == want_status == 200, (kind, params, rows)
        assert [r["id"] for r in rows] == [r["id"] for r in want], (kind, params)
        assert rows == want, (kind, params)
    # a central token the hub saw issued works too, and the nurse gets the nurse's view, field by field
    assert _answers(nurse.http) == central["nurse1"]

    # the central API's refusals
    unknown = hub_doctor.get("/api/v1/reference/drugs")
    assert unknown.status_code == 422 and unknown.json()["code"] == bad_kind_online.json()["code"]
    for params in ({"limit": 0}, {"limit": 501}, {"limit": "many"}, {"q": "x" * 65}):
        assert hub_doctor.get("/api/v1/reference/drug", params=params).status_code == 422, params
    assert httpx.get(f"{enrolled.hub.url}/api/v1/reference/drug").status_code == 401
    stranger = httpx.get(
        f"{enrolled.hub.url}/api/v1/reference/drug", headers={"Authorization": "Bearer nope"}
    )
    assert stranger.status_code == 401

    # the campus's queues, and the same role check
    queues = nurse.http.get("/api/v1/queue")
    assert queues.status_code == 200, queues.text
    assert _without_working_rooms(queues.json()) == _without_working_rooms(online_queues.json())
    assert pharmacist.http.get("/api/v1/queue").status_code == online_forbidden.status_code == 403

    # what needs the day's numbers and live order: 503, and where to go instead
    queue_id = online_queues.json()[0]["id"]
    for lang, text in (("en", "triage desk"), ("zh-CN", "分诊台"), ("zh-TW", "分診台")):
        checked_in = nurse.http.post(
            "/api/v1/queue/check-in",
            json={"appointment_number": "YY202611220001"},
            headers={"Accept-Language": lang},
        )
        assert checked_in.status_code == 503 and checked_in.json()["code"] == "central_unreachable"
        assert text in checked_in.json()["message"], checked_in.json()
        listing = nurse.http.get(f"/api/v1/queue/{queue_id}", headers={"Accept-Language": lang})
        assert listing.status_code == 503 and text in listing.json()["message"]
