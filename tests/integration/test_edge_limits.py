"""What reaches the server from outside cannot stop it or a PC: bodies are limited by what is read, every
number is range-checked, a mutation that makes the server fail is rejected after bounded tries (so a
PC's queue moves on), a 500 does not reset the connection, and stopping the server ends long-polls
cleanly. Real server processes on loopback."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_stub.seed.demo import seed_demo
from tests.clinical.support import create_args, draft, first_drugs, line
from tests.support.api import ApiUser, patient_args
from tests.support.server import ServerProcess

# Loaded by the server process at start (sitecustomize on its PYTHONPATH): a mutation whose handler
# fails with an unexpected error, as a bug in a real handler would.
_CRASHING_MUTATION = """
from shared.domain.mutations.base import MutationArgs, mutation

class _CrashArgs(MutationArgs):
    crash: bool

@mutation("test.crash", _CrashArgs, roles=("nurse", "doctor"))
def _crash(state, args, ctx):
    if args.crash:
        raise RuntimeError("a bug in a handler")
    from shared.domain.mutations.base import Effect
    return Effect(result={"ok": True})

@mutation("test.crash_at_commit", _CrashArgs, roles=("nurse", "doctor"))
def _crash_at_commit(state, args, ctx):
    from shared.domain.mutations.base import Effect
    # a result the database cannot store: the transaction fails at its end, outside the handler
    return Effect(result={"unstorable": object()} if args.crash else {"ok": True})
"""


def _crashing(db_url: str, tmp_path: Path) -> ServerProcess:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(_CRASHING_MUTATION))
    path = os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")])
    return ServerProcess(db_url, tmp_path / "server.log", env={"PYTHONPATH": path}).start()


@pytest.fixture
def crashing_server(demo_db_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = _crashing(demo_db_url, tmp_path)
    yield process
    process.stop()


@pytest.fixture
def crashing_pg_server(pg_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    seed_demo(pg_url, patients=20)
    process = _crashing(pg_url, tmp_path)
    yield process
    process.stop()


def _outcomes(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    return body["outcomes"] if response.status_code == 200 else body["detail"]["outcomes"]  # type: ignore[no-any-return]


# -- body size ----------------------------------------------------------------------------------------


def test_a_chunked_upload_over_the_limit_is_refused_without_reading_the_rest(
    shared_server: ServerProcess,
) -> None:
    """No Content-Length, 150 MB announced by nothing: the server answers 413 after at most its limit
    (8 MiB) and closes the connection; the sender cannot push the rest in."""
    sock = socket.create_connection(("127.0.0.1", shared_server.port), timeout=30)
    sock.sendall(
        b"POST /api/v1/sync/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"[" * 65536
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    try:
        while sent < 150 * 1024 * 1024:
            sock.sendall(framed)
            sent += len(chunk)
    except OSError:  # the server closed the connection: nothing more goes in
        pass
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except OSError:
        pass
    sock.close()
    assert sent < 64 * 1024 * 1024, f"the server kept reading: {sent} bytes went in"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_small_chunked_body_is_handled_as_usual(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse2")
    body = json.dumps(
        {"client_id": nurse.client_id, "mutations": [nurse.envelope("patient.register", patient_args())]}
    )

    def chunks() -> Iterator[bytes]:
        data = body.encode()
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    response = nurse.http.post(
        "/api/v1/sync/push", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert _outcomes(response)[0]["status"] in ("applied", "applied_with_warning")
    nurse.close()


# -- numbers ------------------------------------------------------------------------------------------


def test_doses_and_quantities_out_of_range_are_rejected_and_the_queue_moves_on(server: ServerProcess) -> None:
    """Before: a dose of 1e30 answered 500, was never stored, and every later push of that PC 409'd."""
    from tests.clinical.test_clinical_api import _patient_and_visit, _staff

    doctor = ApiUser(server.url, "doctor1")
    doctor.http.headers["Accept-Language"] = "en"
    patient, visit_id = _patient_and_visit(doctor)
    bad = {
        "dose 1e30": ("dose", "1e30"),
        "dose 1e999999": ("dose", "1e999999"),
        "quantity 10**30": ("quantity", str(10**30)),
    }
    for label, (field, literal) in bad.items():
        rx = draft(
            patient, _staff(doctor), [line(first_drugs(1)[0])], device_id=doctor.device_id, visit_id=visit_id
        )
        envelope = doctor.envelope("rx.create", create_args(rx))
        envelope["args"]["lines"][0][field] = "@NUMBER@"
        raw = json.dumps({"client_id": doctor.client_id, "mutations": [envelope]})
        response = doctor.http.post(
            "/api/v1/sync/push",
            content=raw.replace('"@NUMBER@"', literal),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, (label, response.status_code, response.text[:300])
        [outcome] = _outcomes(response)
        assert (outcome["status"], outcome["code"]) == ("rejected", "invalid_args"), label
        assert f"lines.0.{field}" in outcome["message"], (label, outcome["message"])
    # the PC's next mutation is applied: nothing is stuck behind the refused ones
    assert doctor.push_one("patient.register", patient_args())["status"] in (
        "applied",
        "applied_with_warning",
    )
    doctor.close()


def test_any_number_in_any_mutation_is_range_checked(shared_server: ServerProcess) -> None:
    nurse = ApiUser(shared_server.url, "nurse3")
    # a field with no bound of its own still gets the generic one
    outcome = nurse.push_one("queue.undo", {"ticket_id": "t", "event_no": 10**30, "note": "撤销"})
    assert (outcome["status"], outcome["code"]) == ("rejected", "invalid_args")
    assert "event_no" in outcome["message"] and "out of range" in outcome["message"]
    huge_seq = nurse.envelope("patient.register", patient_args())
    huge_seq["client_seq"] = 10**30
    response = nurse.push(huge_seq)
    assert response.status_code == 422 and "client_seq" in response.json()["message"]
    assert nurse.http.get("/api/v1/sync/pull", params={"cursor": 10**30}).status_code == 422
    nurse.close()


# -- a mutation that makes the server fail ------------------------------------------------------------


@pytest.mark.postgres
def test_a_mutation_that_fails_the_server_is_rejected_after_three_tries_on_postgresql(
    crashing_pg_server: ServerProcess,
) -> None:
    test_a_mutation_that_fails_the_server_is_rejected_after_three_tries(crashing_pg_server)
    test_mutations_before_the_failing_one_in_a_batch_are_applied_once(crashing_pg_server)


def test_a_mutation_that_fails_the_server_is_rejected_after_three_tries(
    crashing_server: ServerProcess,
) -> None:
    nurse = ApiUser(crashing_server.url, "nurse1")
    poison = nurse.envelope("test.crash", {"crash": True})
    statuses = [nurse.push(poison).status_code for _ in range(2)]
    assert statuses == [500, 500]
    third = nurse.push(poison)
    assert third.status_code == 200, third.text
    [outcome] = third.json()["outcomes"]
    assert (outcome["status"], outcome["code"]) == ("rejected", "internal_error")
    assert nurse.push(poison).json()["outcomes"][0]["replayed"] is True
    # the queue moves on: the next mutation of this PC is applied
    after = nurse.push_one("patient.register", patient_args())
    assert after["status"] in ("applied", "applied_with_warning") and after["client_seq"] == 2
    nurse.close()


def test_the_failure_count_is_kept_in_the_database_across_a_restart(
    crashing_server: ServerProcess,
) -> None:
    nurse = ApiUser(crashing_server.url, "nurse1")
    poison = nurse.envelope("test.crash", {"crash": True})
    assert nurse.push(poison).status_code == 500
    assert nurse.push(poison).status_code == 500
    nurse.close()
    crashing_server.stop()
    crashing_server.start()
    nurse.http = httpx.Client(base_url=crashing_server.url, timeout=30.0)
    nurse.http.headers["Authorization"] = f"Bearer {nurse.token}"
    [outcome] = nurse.push(poison).json()["outcomes"]
    assert outcome["code"] == "internal_error"
    nurse.close()


def test_mutations_before_the_failing_one_in_a_batch_are_applied_once(crashing_server: ServerProcess) -> None:
    nurse = ApiUser(crashing_server.url, "nurse1")
    good = nurse.envelope("patient.register", patient_args())
    poison = nurse.envelope("test.crash", {"crash": True})
    later = nurse.envelope("test.crash", {"crash": False})
    assert nurse.push(good, poison, later).status_code == 500
    assert nurse.push(good, poison, later).status_code == 500
    response = nurse.push(good, poison, later)
    assert [(o["status"], o["code"], o["replayed"]) for o in response.json()["outcomes"]] == [
        ("applied", None, True),
        ("rejected", "internal_error", False),
        ("applied", None, False),
    ]
    nurse.close()


def test_a_mutation_that_fails_the_whole_transaction_is_found_and_rejected_too(
    crashing_server: ServerProcess,
) -> None:
    """The failure comes at the commit, not in the handler: the server finds which mutation it was by
    applying the push's mutations one by one, and counts it against that one only."""
    nurse = ApiUser(crashing_server.url, "nurse1")
    good = nurse.envelope("patient.register", patient_args())
    poison = nurse.envelope("test.crash_at_commit", {"crash": True})
    later = nurse.envelope("test.crash_at_commit", {"crash": False})
    statuses = [nurse.push(good, poison, later).status_code for _ in range(3)]
    assert statuses == [500, 500, 500]
    response = nurse.push(good, poison, later)
    assert response.status_code == 200, response.text
    assert [(o["status"], o["code"]) for o in response.json()["outcomes"]] == [
        ("applied", None),
        ("rejected", "internal_error"),
        ("applied", None),
    ]
    nurse.close()


def test_the_connection_still_works_after_a_500(crashing_server: ServerProcess) -> None:
    """One client, one kept-alive connection: a request that fails the server, then a good one. Before,
    the server closed the connection after the 500 and the next request was reset."""
    nurse = ApiUser(crashing_server.url, "nurse1")
    failing = nurse.push(nurse.envelope("test.crash", {"crash": True}))
    assert failing.status_code == 500 and failing.json()["code"] == "server_error"
    for _ in range(3):
        assert nurse.http.get("/api/v1/auth/me").status_code == 200
    log = crashing_server.log_path.read_text()
    assert "Exception in ASGI application" not in log
    nurse.close()


# -- stopping the server ------------------------------------------------------------------------------


def test_stopping_the_server_ends_open_long_polls_cleanly(server: ServerProcess) -> None:
    nurse = ApiUser(server.url, "nurse1")
    _, cursor = nurse.pull_all()
    request = (
        f"GET /api/v1/sync/pull?cursor={cursor}&wait=25 HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {nurse.token}\r\n\r\n"
    ).encode()
    polls = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.sendall(request)  # in the server's socket buffer once this returns
        polls.append(sock)
    # answered after the server has read the long-polls that were already waiting in its sockets
    assert nurse.http.get("/api/v1/auth/me").status_code == 200
    server.stop()
    for sock in polls:
        answer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        sock.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), answer[:300]
        assert json.loads(body)["code"] == "server_stopping"
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]
    assert "Cancel" not in log, log[-3000:]
    nurse.close()
