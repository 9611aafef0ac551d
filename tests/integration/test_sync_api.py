"""The central API over real HTTP: a uvicorn process on loopback with a seeded SQLite database."""

from __future__ import annotations

import threading

import httpx

from shared.ids import new_id
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

VALID_ID = "11010519491231002X"


def test_health_and_openapi_are_served(shared_server: ServerProcess) -> None:
    health = httpx.get(f"{shared_server.url}/healthz").json()
    assert health["status"] == "ok" and health["database"] == "sqlite" and health["head"] > 0
    spec = httpx.get(f"{shared_server.url}/openapi.json").json()
    assert {"/api/v1/sync/push", "/api/v1/sync/pull", "/api/v1/sync/bootstrap", "/api/v1/auth/login"} <= set(
        spec["paths"]
    )


def test_login_binds_the_token_to_staff_and_device_and_logout_revokes_it(
    shared_server: ServerProcess,
) -> None:
    user = ApiUser(shared_server.url, "nurse1", device_id="triage-pc-7")
    me = user.http.get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["username"] == "nurse1"
    assert user.http.post("/api/v1/auth/logout").status_code == 204
    after = user.http.get("/api/v1/auth/me")
    assert after.status_code == 401 and after.json()["code"] == "token_invalid"


def test_requests_without_a_token_are_refused_with_a_clear_message(shared_server: ServerProcess) -> None:
    response = httpx.get(f"{shared_server.url}/api/v1/sync/pull", headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert response.json() == {"code": "token_missing", "message": "Please log in first", "detail": None}


def test_repeated_wrong_passwords_lock_the_account_with_one_message_for_every_failure(
    server: ServerProcess,
) -> None:
    body = {"username": "doctor3", "password": "wrong", "device_id": "pc-1"}
    answers = [httpx.post(f"{server.url}/api/v1/auth/login", json=body) for _ in range(5)]
    assert {a.status_code for a in answers} == {401}
    assert {a.json()["code"] for a in answers} == {"login_failed"}
    assert len({a.json()["message"] for a in answers}) == 1, "no count of attempts left"
    right = httpx.post(f"{server.url}/api/v1/auth/login", json={**body, "password": "Demo-2026"})
    assert right.status_code == 401 and right.json() == answers[0].json(), "locked: the same answer"


def test_a_push_is_applied_and_pulled_once_at_its_latest_version(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse1")
    _, cursor = nurse.pull_all()
    args = patient_args(name="欧阳娜娜", id_number=VALID_ID, birth_date="1949-12-31", sex="F")
    registered = nurse.push_one("patient.register", args)
    assert registered["status"] == "applied" and registered["result"]["mrn"]
    updated = nurse.push_one(
        "patient.update", {"patient_id": args["id"], "phone": "13900001111"}, base_version=1
    )
    assert updated["status"] == "applied" and updated["seq"] > registered["seq"]
    changes, _ = nurse.pull_all(cursor)
    mine = [c for c in changes if c["id"] == args["id"]]
    assert len(mine) == 1
    assert mine[0]["version"] == 2 and mine[0]["data"]["phone"] == "13900001111"
    assert mine[0]["data"]["name_pinyin"] == "oynn"


def test_a_replayed_push_returns_the_stored_result(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse2")
    envelope = nurse.envelope("patient.register", patient_args())
    first = nurse.push(envelope).json()["outcomes"][0]
    again = nurse.push(envelope).json()["outcomes"][0]
    assert again["replayed"] is True
    assert {k: again[k] for k in ("status", "result", "seq")} == {
        k: first[k] for k in ("status", "result", "seq")
    }


def test_a_lost_acknowledgement_is_healed_by_pushing_the_batch_again(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse3")
    first = nurse.envelope("patient.register", patient_args())
    nurse.push(first)  # pretend this answer never arrived
    second = nurse.envelope("patient.register", patient_args())
    outcomes = nurse.push(first, second).json()["outcomes"]
    assert [o["replayed"] for o in outcomes] == [True, False]
    assert [o["status"] for o in outcomes] == ["applied", "applied"]


def test_a_gap_in_client_seq_is_refused_and_nothing_after_it_is_applied(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse4")
    ok = nurse.envelope("patient.register", patient_args())
    nurse.envelope("patient.register", patient_args())  # seq 2 is "lost"
    after_gap = nurse.envelope("patient.register", patient_args())
    response = nurse.push(ok, after_gap)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "client_seq_gap" and body["detail"]["expected"] == 2
    assert [o["client_seq"] for o in body["detail"]["outcomes"]] == [1]
    changes, _ = nurse.pull_all()
    assert after_gap["args"]["id"] not in {c["id"] for c in changes}


def test_a_rejection_is_stored_and_never_blocks_the_queue(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse1")
    bad = nurse.envelope("patient.register", patient_args(id_number="110105194912310021"))
    good = nurse.envelope("patient.register", patient_args())
    outcomes = nurse.push(bad, good).json()["outcomes"]
    assert outcomes[0]["status"] == "rejected" and outcomes[0]["code"] == "bad_id_number"
    assert "校验" in outcomes[0]["message"]
    assert outcomes[1]["status"] == "applied"
    assert nurse.push(bad).json()["outcomes"][0]["replayed"] is True


def test_roles_are_checked_for_every_mutation_and_endpoint(shared_server: ServerProcess) -> None:
    pharmacist = ApiUser(shared_server.url, "pharmacist1")
    envelope = pharmacist.envelope("visit.open", {"id": new_id(), "patient_id": "x", "department_id": "y"})
    response = pharmacist.push(envelope)
    assert response.status_code == 403
    outcome = response.json()["detail"]["outcomes"][0]
    assert outcome["status"] == "rejected" and outcome["code"] == "forbidden"
    assert pharmacist.http.get("/api/v1/admin/audit/verify").status_code == 403
    admin = ApiUser(shared_server.url, "admin")
    assert admin.http.get("/api/v1/admin/audit/verify").json()["ok"] is True


def test_long_poll_answers_as_soon_as_another_pc_writes(shared_server: ServerProcess) -> None:
    watcher = ApiUser(shared_server.url, "doctor1")
    writer = ApiUser(shared_server.url, "nurse2")
    _, cursor = watcher.pull_all()
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(watcher.pull(cursor, wait=20)))
    thread.start()
    args = patient_args()
    writer.push_one("patient.register", args)
    thread.join(30)
    assert args["id"] in {c["id"] for c in result["changes"]}  # type: ignore[union-attr]


def test_bootstrap_streams_checksummed_chunks_and_resumes_after_a_checkpoint(
    shared_server: ServerProcess,
) -> None:
    import hashlib
    import json

    user = ApiUser(shared_server.url, "doctor2")
    lines = user.http.get("/api/v1/sync/bootstrap").text.splitlines()
    header, end = json.loads(lines[0]), json.loads(lines[-1])
    assert header["type"] == "header" and end["type"] == "end"
    chunk: list[bytes] = []
    checkpoints = []
    items = 0
    for line in lines[1:-1]:
        record = json.loads(line)
        if record["type"] == "item":
            chunk.append(line.encode())
            items += 1
        else:
            assert record["sha256"] == hashlib.sha256(b"\n".join(chunk)).hexdigest()
            assert record["count"] == len(chunk)
            checkpoints.append(record["seq"])
            chunk = []
    assert items == end["total"] and len(checkpoints) > 1
    resumed = user.http.get("/api/v1/sync/bootstrap", params={"after": checkpoints[0]}).text.splitlines()
    assert json.loads(resumed[-1])["total"] == end["total"] - 1000
    pulled, cursor = user.pull_all()
    assert cursor == end["cursor"] and len(pulled) == items


def test_idle_long_polls_hold_no_thread_or_connection(shared_server: ServerProcess) -> None:
    """More long-polls than the server has worker threads (40) and pooled connections (40) are open at
    once, yet a push and a pull still go through while they wait."""
    watcher = ApiUser(shared_server.url, "doctor5")
    _, cursor = watcher.pull_all()
    waiting = 60
    started = threading.Barrier(waiting + 1)
    results: list[int] = []

    def hold() -> None:
        with httpx.Client(base_url=shared_server.url, headers=watcher.http.headers, timeout=60) as client:
            started.wait()
            response = client.get("/api/v1/sync/pull", params={"cursor": cursor, "wait": 25})
            results.append(len(response.json()["changes"]))

    threads = [threading.Thread(target=hold) for _ in range(waiting)]
    for thread in threads:
        thread.start()
    started.wait()
    writer = ApiUser(shared_server.url, "nurse1")
    writer.http.timeout = httpx.Timeout(10.0)  # would time out if the waiters held every worker thread
    outcome = writer.push_one("patient.register", patient_args())
    assert outcome["status"] == "applied"
    for thread in threads:
        thread.join(60)
    assert len(results) == waiting and all(n >= 1 for n in results)


def test_a_write_that_keeps_colliding_is_rejected_not_a_500_and_the_queue_moves_on(
    shared_server: ServerProcess,
) -> None:
    nurse = ApiUser(shared_server.url, "nurse2")
    first_patient = nurse.http.get("/api/v1/sync/pull", params={"limit": 5000}).json()["changes"]
    taken_mrn = next(c["data"]["mrn"] for c in first_patient if c["kind"] == "patient")
    clash = nurse.envelope("patient.register", patient_args(mrn=taken_mrn))
    after = nurse.envelope("patient.register", patient_args())
    response = nurse.push(clash, after)
    assert response.status_code == 200
    first, second = response.json()["outcomes"]
    assert (first["status"], first["code"]) == ("rejected", "conflict")
    assert second["status"] == "applied"


def test_a_write_lock_held_too_long_is_a_503_to_retry_and_nothing_is_applied(
    demo_db_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    process = ServerProcess(demo_db_url, tmp_path / "busy.log", env={"CLINIC_SQLITE_BUSY_MS": "500"}).start()
    try:
        nurse = ApiUser(process.url, "nurse1")
        blocker = sqlite3.connect(demo_db_url.split("///", 1)[1], isolation_level=None, timeout=5)
        blocker.execute("BEGIN IMMEDIATE")  # another process (a backup, a second server) holds the write lock
        envelope = nurse.envelope("patient.register", patient_args())
        try:
            busy = nurse.push(envelope)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert busy.status_code == 503 and busy.json()["code"] == "database_busy"
        assert busy.headers["Retry-After"]
        retried = nurse.push(envelope).json()["outcomes"][0]
        assert retried["status"] == "applied" and retried["replayed"] is False
    finally:
        process.stop()
