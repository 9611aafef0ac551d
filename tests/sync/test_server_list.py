"""A PC with a list of servers (clinic hub first, central API second): it uses the first that answers,
moves to the next when one cannot be reached, and back to an earlier one as soon as it answers.
Pushes a hub answers as "shared" stay in the outbox until the central API's outcome is known.

Real server processes on loopback. The clinic hub of the last tests is a small stand-in on loopback (a
FastAPI app that forwards to the real central API and answers pushes with ``shared`` while told the
central API is away): the hub process itself is another helper's work; end-to-end tests with it come
when it is merged."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from server_stub.config import sqlite_url
from shared.ids import new_id
from shared.protocol.models import HubInfo, MutationOutcome, PullResponse, PushRequest, PushResponse
from shared.sync import ApiTransport, SyncState
from shared.sync.transport import ProtocolError
from tests.conftest import copy_sqlite
from tests.support.api import DEMO_PASSWORD
from tests.support.server import ServerProcess, free_port
from tests.sync.support import make_client


def register_args(name: str) -> dict[str, object]:
    return {"id": new_id(), "name": name, "sex": "F", "birth_date": "1980-05-01"}


def test_a_dead_first_server_is_passed_over_for_the_next(server: ServerProcess, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    pc = make_client(tmp_path / "pc.db", [dead, server.url])  # type: ignore[arg-type]
    try:
        assert pc.transport.base_url == server.url
        entry = pc.store.record("patient.register", register_args("列表测试"))
        status = pc.sync()
        assert status.state is SyncState.ONLINE and status.server_role == "central"
        done = pc.store.entry(entry.mutation_id)
        assert done is not None and done.status == "applied"
        assert pc.transport.prefer_earlier(timeout=0.5) is None  # the dead one still does not answer
        assert pc.transport.base_url == server.url
    finally:
        pc.close()


def test_a_stopped_first_server_is_left_and_taken_again_when_it_answers(
    server: ServerProcess, demo_template: Path, tmp_path: Path
) -> None:
    second = ServerProcess(
        sqlite_url(copy_sqlite(demo_template, tmp_path / "second.db")), tmp_path / "second.log"
    ).start()
    switches: list[tuple[str, str]] = []
    transport = ApiTransport(
        [server.url, second.url], timeout=5.0, on_switch=lambda a, b: switches.append((a, b))
    )
    try:
        assert transport.health(first=True).role == "central" and transport.base_url == server.url
        server.stop()
        info = transport.health()  # the current one is gone: the next one answers
        assert info.status == "ok" and transport.base_url == second.url
        assert switches == [(server.url, second.url)]
        assert transport.prefer_earlier(timeout=0.5) is None and transport.base_url == second.url
        server.start()
        assert transport.prefer_earlier() is not None and transport.base_url == server.url
        assert switches[-1] == (second.url, server.url)
        second.stop()
        assert transport.health(first=True).status == "ok" and transport.base_url == server.url
    finally:
        transport.close()
        second.stop()


def test_the_engine_probe_goes_back_to_the_first_server_and_a_refused_token_asks_for_a_new_login(
    server: ServerProcess, demo_template: Path, tmp_path: Path
) -> None:
    """Two central APIs (each its own logins): after a switch the second refuses the first's token, the
    PC keeps working and asks for a new login; logged in again there it syncs; the first comes back."""
    second = ServerProcess(
        sqlite_url(copy_sqlite(demo_template, tmp_path / "second.db")), tmp_path / "second.log"
    ).start()
    pc = make_client(tmp_path / "pc.db", [server.url, second.url], probe_interval=0.2)  # type: ignore[arg-type]
    try:
        assert pc.sync().state is SyncState.ONLINE
        server.stop()
        pc.store.record("patient.register", register_args("切换测试"))
        status = pc.sync()
        assert pc.transport.base_url == second.url
        assert status.state is SyncState.AUTH_EXPIRED and "1" in status.message and status.pending == 1
        pc.engine.login("nurse1", DEMO_PASSWORD)
        status = pc.sync()
        assert status.state is SyncState.ONLINE and status.pending == 0
        server.start()
        pc.engine._next_earlier_probe = 0.0
        pc.engine._prefer_earlier()
        assert pc.transport.base_url == server.url
    finally:
        pc.close()
        second.stop()


# -- a stand-in clinic hub: forwards to the central API; "offline" it shares pushes on the LAN ---------


class StandInHub:
    def __init__(self, central: str) -> None:
        self.central = central
        self.offline = False
        self.answer_nothing = False
        self.pushes: list[PushRequest] = []
        self.outcomes: dict[str, MutationOutcome] = {}  # what "the central API" said, once known
        self.app = FastAPI()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hub = HubInfo(hub_id="stand-in", epoch="e1", upstream=True)
        self._client = httpx.Client(base_url=central, timeout=30.0)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        app = self.app

        @app.post("/api/v1/sync/push")
        async def push(request: Request) -> Response:
            body = PushRequest.model_validate_json(await request.body())
            self.pushes.append(body)
            if not self.offline:
                return self._forward(request.method, "/api/v1/sync/push", await request.body(), request)
            if self.answer_nothing:
                answer = PushResponse(outcomes=[], last_client_seq=0, server_time=dt.datetime.now(dt.UTC))
            else:
                known = [
                    self.outcomes[m.mutation_id] for m in body.mutations if m.mutation_id in self.outcomes
                ]
                answer = PushResponse(
                    outcomes=known,
                    last_client_seq=body.mutations[-1].client_seq,
                    server_time=dt.datetime.now(dt.UTC),
                    shared=[m.mutation_id for m in body.mutations if m.mutation_id not in self.outcomes],
                )
            return Response(answer.model_dump_json(), media_type="application/json")

        @app.get("/api/v1/sync/pull")
        async def pull(request: Request) -> Response:
            if not self.offline:
                return self._forward("GET", "/api/v1/sync/pull", b"", request)
            cursor = int(request.query_params["cursor"])
            answer = PullResponse(
                changes=[],
                next_cursor=cursor,
                has_more=False,
                server_time=dt.datetime.now(dt.UTC),
                lan=[],
                lan_next=int(request.query_params.get("lan_after", 0)),
                hub=self.hub.model_copy(update={"upstream": False}),
            )
            return Response(answer.model_dump_json(), media_type="application/json")

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def forward(path: str, request: Request) -> Response:
            if path == "healthz":
                response = self._forward("GET", "/healthz", b"", request)
                data = {**response_json(response), "role": "hub", "hub": self.hub.model_dump()}
                return Response(json.dumps(data, default=str), media_type="application/json")
            return self._forward(request.method, "/" + path, await request.body(), request)

    def _forward(self, method: str, path: str, body: bytes, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        answer = self._client.request(
            method, path, content=body, params=dict(request.query_params), headers=headers
        )
        return Response(answer.content, status_code=answer.status_code, media_type="application/json")

    def start(self) -> StandInHub:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "the stand-in hub did not start"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(20)
        self._client.close()


def response_json(response: Response) -> dict[str, Any]:
    return dict(json.loads(bytes(response.body)))


@pytest.fixture
def hub(server: ServerProcess) -> Iterator[StandInHub]:
    stand_in = StandInHub(server.url).start()
    yield stand_in
    stand_in.stop()


def test_shared_pushes_stay_unresolved_until_the_central_outcome_and_a_switch_pushes_them_all(
    hub: StandInHub, server: ServerProcess, tmp_path: Path
) -> None:
    pc = make_client(tmp_path / "pc.db", [hub.url, server.url], reshare_seconds=3600.0)  # type: ignore[arg-type]
    try:
        assert pc.sync().state is SyncState.ONLINE
        assert pc.transport.base_url == hub.url
        hub.offline = True
        first = [pc.store.record("patient.register", register_args(f"共享{n}")) for n in range(3)]
        status = pc.sync()
        assert status.state is SyncState.ONLINE
        assert (status.pending, status.shared) == (3, 3)
        assert status.server_role == "hub" and status.hub_upstream is False
        assert all(e.shared and e.status == "sent" for e in pc.store.outbox())
        pushes = len(hub.pushes)

        # the next push sends only what the hub does not hold yet
        later = pc.store.record("patient.register", register_args("共享3"))
        status = pc.sync()
        assert [m.mutation_id for m in hub.pushes[-1].mutations] == [later.mutation_id]
        assert len(hub.pushes) == pushes + 1 and status.shared == 4

        # the hub learns the central API's outcomes: one applied, one rejected with its reason
        hub.outcomes[first[0].mutation_id] = MutationOutcome(
            mutation_id=first[0].mutation_id, client_seq=1, status="applied", seq=1
        )
        hub.outcomes[first[1].mutation_id] = MutationOutcome(
            mutation_id=first[1].mutation_id,
            client_seq=2,
            status="rejected",
            code="duplicate_patient",
            message="中心服务器：该患者已登记",
        )
        pc.engine.reshare_seconds = 0.0
        status = pc.sync()
        assert hub.pushes[-1].mutations[0].mutation_id == first[0].mutation_id  # from the oldest again
        assert (status.pending, status.shared, status.needs_attention) == (2, 2, 1)
        attention = pc.store.needs_attention()
        assert [e.message for e in attention] == ["中心服务器：该患者已登记"]

        # a hub answering neither outcome nor shared for a pushed mutation is a protocol error
        hub.answer_nothing = True
        with pytest.raises(ProtocolError):
            pc.engine.push_outbox()
        hub.answer_nothing = False

        # the hub goes away: the PC pushes every unresolved entry to the central API, oldest first
        hub.stop()
        status = pc.sync()
        assert pc.transport.base_url == server.url
        assert status.state is SyncState.ONLINE and status.server_role == "central"
        assert (status.pending, status.shared) == (0, 0)
        applied = {e.mutation_id for e in pc.store.outbox("applied")}
        # the stand-in's "applied" for first[0] was never the real central's; the central applies it now
        assert {first[0].mutation_id, first[2].mutation_id, later.mutation_id} <= applied
    finally:
        pc.close()
