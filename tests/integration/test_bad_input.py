"""Bad input never gets a 500: each kind of mistake gets a 4xx with a precise message."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from shared.ids import new_id
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def nurse(shared_server: ServerProcess) -> ApiUser:
    return ApiUser(shared_server.url, "nurse3")


def _push_raw(user: ApiUser, content: bytes) -> httpx.Response:
    return user.http.post("/api/v1/sync/push", content=content, headers={"Content-Type": "application/json"})


def test_malformed_json_is_a_422_that_says_so(nurse: ApiUser) -> None:
    response = _push_raw(nurse, b'{"client_id": "x", "mutations": [')
    assert response.status_code == 422
    assert "JSON" in response.json()["message"]


def test_wrong_types_and_missing_fields_name_the_field(nurse: ApiUser) -> None:
    response = nurse.http.post(
        "/api/v1/sync/push", json={"client_id": "c", "mutations": [{"client_seq": "first"}]}
    )
    assert response.status_code == 422
    message = response.json()["message"]
    assert "mutations.0.client_seq" in message and "mutations.0.mutation_id" in message


def test_an_oversized_batch_is_refused_before_anything_is_applied(nurse: ApiUser) -> None:
    envelopes = [
        nurse.envelope("patient.register", patient_args()) for _ in range(501)
    ]  # numbers are never used again
    response = nurse.http.post("/api/v1/sync/push", json={"client_id": new_id(), "mutations": envelopes})
    assert response.status_code == 422 and "500" in response.json()["message"]


def test_an_unknown_mutation_name_is_refused_and_recorded(shared_server: ServerProcess) -> None:
    user = ApiUser(shared_server.url, "nurse4")
    response = user.push(user.envelope("patient.teleport", {}))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "mutations_refused"
    assert body["detail"]["outcomes"][0]["code"] == "unknown_mutation"
    assert "patient.teleport" in body["detail"]["outcomes"][0]["message"]


def test_invalid_mutation_args_are_refused_with_the_field_named(shared_server: ServerProcess) -> None:
    user = ApiUser(shared_server.url, "nurse4")
    response = user.push(
        user.envelope(
            "patient.register", {"id": new_id(), "name": "李四", "sex": "X", "birth_date": "yesterday"}
        )
    )
    assert response.status_code == 422
    outcome = response.json()["detail"]["outcomes"][0]
    assert (
        outcome["code"] == "invalid_args"
        and "sex" in outcome["message"]
        and "birth_date" in outcome["message"]
    )


def test_unknown_ids_are_rejected_with_a_reason(shared_server: ServerProcess) -> None:
    user = ApiUser(shared_server.url, "nurse4")
    outcome = user.push_one(
        "visit.open", {"id": new_id(), "patient_id": "no-such-patient", "department_id": "none"}
    )
    assert (
        outcome["status"] == "rejected"
        and outcome["code"] == "not_found"
        and "no-such-patient" in outcome["message"]
    )


@pytest.mark.parametrize(
    "params", [{"cursor": -1}, {"limit": 0}, {"limit": 100000}, {"wait": 999}, {"cursor": "abc"}]
)
def test_bad_pull_parameters_are_422(nurse: ApiUser, params: dict) -> None:
    response = nurse.http.get("/api/v1/sync/pull", params=params)
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_a_cursor_beyond_the_server_head_is_refused(nurse: ApiUser) -> None:
    response = nurse.http.get("/api/v1/sync/pull", params={"cursor": 10**12})
    assert response.status_code == 410 and response.json()["code"] == "cursor_ahead"


def test_a_huge_body_is_413(nurse: ApiUser) -> None:
    response = _push_raw(nurse, b" " * (9 * 1024 * 1024))
    assert response.status_code == 413


def test_unknown_paths_and_methods_use_the_same_error_body(shared_server: ServerProcess) -> None:
    missing = httpx.get(f"{shared_server.url}/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = httpx.get(f"{shared_server.url}/api/v1/sync/push")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_naive_timestamps_and_reference_reads_are_handled(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse3")
    envelope = nurse.envelope("patient.register", patient_args())
    envelope["occurred_at"] = dt.datetime.now().replace(tzinfo=None).isoformat()
    assert nurse.push(envelope).status_code == 200
    drugs = nurse.http.get("/api/v1/reference/drug", params={"q": "amxl"})
    assert drugs.status_code == 200 and any("阿莫西林" in d["generic_name"] for d in drugs.json())
    assert nurse.http.get("/api/v1/reference/secrets").status_code == 422
