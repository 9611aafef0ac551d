"""The hub's HTTP face: the central API's paths for the clinic's PCs.

Online (the central API answers its ``/healthz``) with no relay backlog, requests go to the central API
as they are, with the PC's own token, and the answers come back as they are (pulls gain ``lan`` and
``hub``). Otherwise the hub answers from its own store: pushes go to the relay log (fsync'd before the
answer) and come back in ``PushResponse.shared``; pulls come from the replica with the LAN's entries;
logins use the offline verifiers; reference searches and the campus's queue list come from the replica
(``reads``). Paths the hub cannot serve itself answer 503 ``central_unreachable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

import server_stub.hub.messages  # noqa: F401 - registers the hub's messages
from server_stub.hub import reads
from server_stub.hub.board import LanBoard, Wakeup
from server_stub.hub.relay import Relay
from server_stub.hub.replica import Replica
from server_stub.hub.sessions import HUB_TOKEN_PREFIX, LoginPolicy, NoOfflineLogin, Sessions
from server_stub.hub.store import HubDb, HubStore, SequenceProblem, Session
from server_stub.hub.upstream import Upstream
from server_stub.hub.verifiers import VerifierFetcher
from server_stub.services.feed_views import restrict, restricted_kinds
from shared import __version__
from shared.domain.mutations import REGISTRY
from shared.domain.pickup import easy_to_guess
from shared.errors import AccountLocked, AuthFailed, PermissionDenied, SuiteError, ValidationFailed
from shared.i18n import normalize_language, tr
from shared.protocol.models import (
    API_PREFIX,
    MAX_CURSOR,
    MAX_PULL_LIMIT,
    MAX_WAIT_SECONDS,
    BootstrapCheckpoint,
    BootstrapEnd,
    BootstrapHeader,
    BootstrapItem,
    Change,
    ErrorBody,
    HubInfo,
    LanMutation,
    LoginRequest,
    LoginResponse,
    PullResponse,
    PushRequest,
    PushResponse,
    ServerInfo,
)

log = logging.getLogger(__name__)

SYNC_ROLES = frozenset({"doctor", "pharmacist", "nurse", "admin"})  # who may push and pull (as centrally)
LAN_ROLES = frozenset({"doctor", "pharmacist", "nurse"})  # who sees the LAN's pending mutations
BOOTSTRAP_CHUNK = 1000
_UNREACHABLE_STATUS = frozenset({502, 503, 504})
_FORWARDED_HEADERS = ("authorization", "accept-language", "content-type", "accept", "if-none-match")
_HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length"})
_STATUS: list[tuple[type[SuiteError], int]] = [
    (AccountLocked, 423),
    (AuthFailed, 401),
    (PermissionDenied, 403),
    (ValidationFailed, 422),
]


@dataclass(frozen=True)
class HubConfig:
    upstream: str
    credential: str
    db_path: Path
    verifier_days: float = 14.0
    campus_id: str | None = None
    idle_minutes: float = 30.0
    probe_seconds: float = 1.0
    verify: bool | str = True
    # settled LAN entries are served this long after settlement, then pruned (``HubInfo.lan_floor``)
    lan_keep_minutes: float = 60.0
    # the central API's verifiers of the campus's staff are fetched this often while the link is up
    verifier_refresh_seconds: float = 300.0

    @property
    def hub_id(self) -> str:
        """The id part of ``hub_<id>.<secret>``."""
        head = self.credential.split(".", 1)[0]
        return head.removeprefix("hub_") or "hub"


class Hub:
    """Everything one hub process holds; built at start-up, on the event loop."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.db = HubDb(config.db_path)
        self.wakeup = Wakeup()
        self.board = LanBoard(
            self.db.store.lan_entries(), self.wakeup, int(self.db.store.meta("lan_floor") or 0)
        )
        self.epoch = self.db.store.meta("epoch") or ""
        self.upstream = Upstream(
            config.upstream, config.credential, probe_seconds=config.probe_seconds, verify=config.verify
        )
        self.upstream.timezone = self.db.store.meta("central_timezone") or None
        self.sessions = Sessions(
            self.db,
            LoginPolicy(
                verifier_age=dt.timedelta(days=config.verifier_days),
                idle=dt.timedelta(minutes=config.idle_minutes),
            ),
            campus_id=config.campus_id,
        )
        self.replica = Replica(self.db, self.upstream, self.wakeup, on_change=self.sessions.replica_changed)
        self.relay = Relay(self.db, self.upstream, self.board)
        self.verifiers = VerifierFetcher(
            self.db, self.upstream, days=config.verifier_days, every=config.verifier_refresh_seconds
        )
        self._tasks: list[asyncio.Task[None]] = []

    def info(self) -> HubInfo:
        return HubInfo(
            hub_id=self.config.hub_id,
            epoch=self.epoch,
            upstream=self.upstream.up,
            backlog=self.board.pending,
            lan_floor=self.board.floor,
        )

    def serves_locally(self, session: Session | None) -> bool:
        """Answer from the hub's store, not through the central API: it is away, the backlog is not
        drained yet (nothing may overtake it; unless the central API refused the hub's credential: then
        the backlog never drains and the PCs push their outboxes straight through), or the token is one
        the hub issued."""
        return (
            not self.upstream.up
            or (self.board.pending > 0 and not self.upstream.revoked)
            or (session is not None and session.origin == "hub")
        )

    async def start(self) -> None:
        await self.sessions.load()
        await self.upstream.probe()
        if self.upstream.timezone:  # kept at once: the hub tells it while the central API is away
            await self.db.run(HubStore.set_metas, {"central_timezone": self.upstream.timezone})
        self.upstream.start()
        loop = asyncio.get_running_loop()
        if self.sessions.campus_id is None:
            self.sessions.campus_id = await self.db.run(HubStore.meta, "campus_id")
        self._tasks = [
            loop.create_task(self._identify()),
            loop.create_task(self.replica.run()),
            loop.create_task(self.relay.run()),
            loop.create_task(self.verifiers.run()),
            loop.create_task(self._flush()),
            loop.create_task(self._prune()),
        ]

    async def _identify(self) -> None:
        """Learn the hub's campus from the central API (``GET /api/v1/hub/whoami``) once it answers;
        ``--campus`` given, or a central API without the call, leaves it as it is."""
        while self.config.campus_id is None:
            if self.upstream.up and not self.upstream.revoked:
                try:
                    answer = await self.upstream.client.get(
                        f"{API_PREFIX}/hub/whoami", headers=self.upstream.hub_auth
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 200:
                    campus = str(answer.json()["campus_id"])
                    self.sessions.campus_id = campus
                    await self.db.run(HubStore.set_metas, {"campus_id": campus})
                    log.info("this hub serves campus %s", campus)
                    return
                if answer is not None and answer.status_code in (401, 403, 404):
                    return
            await asyncio.sleep(1.0)

    def foreign(self, session: Session) -> bool:
        """A session of another campus than the hub's: the hub holds nothing of that campus to serve."""
        campus = self.sessions.campus_id
        return campus is not None and session.campus_id != campus

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            try:
                await self.sessions.flush()
                await self.db.run(HubStore.set_metas, self.status_facts())
            except Exception:  # noqa: BLE001 - a busy disk must not end the flusher
                log.warning("could not record the hub's status", exc_info=True)

    async def _prune(self) -> None:
        """Settled LAN entries older than ``lan_keep_minutes`` leave the list, so a PC's ``lan_after=0``
        answer does not grow all day; the floor tells a PC that read less far to start again from 0."""
        keep = dt.timedelta(minutes=self.config.lan_keep_minutes)
        every = min(60.0, max(0.2, keep.total_seconds() / 4))
        while True:
            await asyncio.sleep(every)
            try:
                pruned, floor = await self.db.run(HubStore.prune, dt.datetime.now(dt.UTC) - keep)
            except Exception:  # noqa: BLE001 - a busy disk must not end the pruner
                log.warning("could not prune the LAN list", exc_info=True)
                continue
            if pruned:
                self.board.drop(pruned, floor)
                log.info("pruned %d settled LAN entries (floor %d)", len(pruned), floor)

    def status_facts(self) -> dict[str, str]:
        up = self.upstream
        return {
            "upstream_url": up.url,
            "upstream_up": "1" if up.up else "0",
            "upstream_revoked": "1" if up.revoked else "0",
            "last_contact": up.last_contact.isoformat() if up.last_contact else "",
            "central_head": "" if up.central_head is None else str(up.central_head),
            "central_timezone": up.timezone or "",
            "relay_problem": self.relay.problem or "",
            "replica_problem": self.replica.problem or "",
            "verifiers_problem": self.verifiers.problem or "",
            "hub_id": self.config.hub_id,
            "status_at": dt.datetime.now(dt.UTC).isoformat(),
        }

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.sessions.flush()
            await self.db.run(HubStore.set_metas, self.status_facts())
        await self.upstream.stop()
        self.db.close()


# -- helpers ------------------------------------------------------------------------------------------
def _lang(request: Request) -> str:
    return normalize_language(request.headers.get("accept-language"))


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _error(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    body = ErrorBody(code=code, message=message, detail=detail).model_dump(mode="json")
    return JSONResponse(status_code=status, content=body)


def _unreachable(request: Request, message: str = "hub.central_unreachable") -> JSONResponse:
    response = _error(503, "central_unreachable", tr(message, _lang(request)))
    response.headers["Retry-After"] = "2"
    return response


def _forward_headers(request: Request) -> dict[str, str]:
    headers = {name: request.headers[name] for name in _FORWARDED_HEADERS if name in request.headers}
    if request.client:
        headers["X-Forwarded-For"] = request.client.host
    return headers


def _copy(answer: httpx.Response) -> Response:
    """The central API's answer as it is (body already read)."""
    headers = {
        k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS | {"content-encoding"}
    }
    return Response(content=answer.content, status_code=answer.status_code, headers=headers)


def _streamed(answer: httpx.Response) -> StreamingResponse:
    """The central API's answer streamed through, body bytes unchanged."""
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
    return StreamingResponse(
        answer.aiter_raw(),
        status_code=answer.status_code,
        headers=headers,
        background=BackgroundTask(answer.aclose),
    )


def _allowed(session: Session, lang: str, action: str) -> None:
    if not session.roles & SYNC_ROLES:
        raise PermissionDenied(
            tr("auth.forbidden", lang, roles=",".join(sorted(session.roles)), action=action)
        )


def _restricted(changes: list[Change], roles: frozenset[str]) -> list[Change]:
    hidden = restricted_kinds(roles)
    return [
        change.model_copy(update={"data": restrict(change.kind, change.data)})
        if change.kind in hidden
        else change
        for change in changes
    ]


def _shareable(name: str, args: dict[str, Any], roles: frozenset[str]) -> bool:
    """Whether the LAN may replay this mutation now: its name exists, the staff's roles may run it and
    its args are valid (else the central API rejects it; the hub only holds and relays it)."""
    spec = REGISTRY.get(name)
    if spec is None or not spec.roles & roles:
        return False
    try:
        spec.args.model_validate(args)
    except ValidationError:
        return False
    return True


def create_app(config: HubConfig) -> FastAPI:
    hub_holder: dict[str, Hub] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = Hub(config)
        hub_holder["hub"] = hub
        app.state.hub = hub
        await hub.start()
        log.info("clinic hub %s (epoch %s) serving; upstream %s", config.hub_id, hub.epoch, config.upstream)
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(title="Clinic hub", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)

    def the_hub() -> Hub:
        return hub_holder["hub"]

    @app.exception_handler(SuiteError)
    async def suite_error(request: Request, exc: SuiteError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
        return _error(status, exc.code, exc.message, getattr(exc, "detail", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return _error(422, "invalid_input", tr("request.invalid", _lang(request), detail=detail[:500]))

    def parse(model: type[Any], raw: bytes, request: Request) -> Any:
        try:
            return model.model_validate_json(raw)
        except ValidationError as error:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:10]
            )
            raise ValidationFailed(
                tr("request.invalid", _lang(request), detail=detail), code="invalid_input"
            ) from error

    # -- health and status ------------------------------------------------------------------------
    @app.get("/healthz", response_model=ServerInfo)
    async def healthz() -> ServerInfo:
        hub = the_hub()
        return ServerInfo(
            status="ok",
            version=__version__,
            database="sqlite",
            head=hub.replica.head,
            server_time=dt.datetime.now(dt.UTC),
            role="hub",
            hub=hub.info(),
            timezone=hub.upstream.timezone,
        )

    @app.get("/hub/status")
    async def status(request: Request) -> Response:
        """For ``clinic hub status --url`` on the hub's own machine (loopback only: it names PCs and staff)."""
        if request.client is None or request.client.host not in ("127.0.0.1", "::1", "localhost"):
            return _error(403, "forbidden", "loopback only")
        hub = the_hub()
        await hub.sessions.flush()
        from server_stub.hub.status import read_status

        facts = await hub.db.run(read_status)
        facts.update({k: v for k, v in hub.status_facts().items()})
        facts["replica_cursor"] = str(hub.replica.head)
        return JSONResponse(facts)

    # -- auth -------------------------------------------------------------------------------------
    @app.post(f"{API_PREFIX}/auth/login", response_model=LoginResponse)
    async def login(request: Request) -> Response:
        hub = the_hub()
        raw = await request.body()
        body: LoginRequest = parse(LoginRequest, raw, request)
        if hub.upstream.up:
            try:
                answer = await hub.upstream.client.post(
                    f"{API_PREFIX}/auth/login", content=raw, headers=_forward_headers(request)
                )
            except httpx.TransportError as error:
                hub.upstream.mark_down(f"login {type(error).__name__}")
            else:
                if answer.status_code == 200:
                    await hub.sessions.remember_online_login(
                        body, LoginResponse.model_validate_json(answer.content)
                    )
                    return _copy(answer)
                if answer.status_code not in _UNREACHABLE_STATUS:
                    if answer.status_code == 401:
                        await hub.sessions.refused_online(body)
                    return _copy(answer)
                hub.upstream.mark_down(f"login {answer.status_code}")
        try:
            result = await hub.sessions.offline_login(body, _lang(request))
        except NoOfflineLogin as error:
            response = _error(503, "central_unreachable", error.message)
            response.headers["Retry-After"] = "2"
            return response
        result = result.model_copy(update={"timezone": hub.upstream.timezone})  # the central API's, as kept
        return Response(content=result.model_dump_json(), media_type="application/json")

    @app.post(f"{API_PREFIX}/auth/logout", status_code=204)
    async def logout(request: Request) -> Response:
        hub = the_hub()
        token = _bearer(request)
        session = hub.sessions.known(token)
        if session is not None:
            await hub.sessions.drop(session.token_hash)
        if (session is None or session.origin == "central") and hub.upstream.up:
            with contextlib.suppress(httpx.TransportError):
                return _copy(
                    await hub.upstream.client.post(
                        f"{API_PREFIX}/auth/logout", headers=_forward_headers(request)
                    )
                )
        if session is None:
            raise AuthFailed(tr("auth.expired", _lang(request)), code="token_invalid")
        return Response(status_code=204)

    @app.get(f"{API_PREFIX}/auth/me")
    async def me(request: Request) -> Response:
        hub = the_hub()
        token = _bearer(request)
        session = hub.sessions.known(token)
        if not hub.upstream.up or (session is not None and session.origin == "hub"):
            session = await hub.sessions.lookup(token, _lang(request))
            return JSONResponse(session.staff)
        return await passthrough(request, "auth/me")

    # -- sync -------------------------------------------------------------------------------------
    @app.post(f"{API_PREFIX}/sync/push", response_model=PushResponse)
    async def push(request: Request) -> Response:
        hub = the_hub()
        raw = await request.body()
        token = _bearer(request)
        lang = _lang(request)
        session = hub.sessions.known(token)
        if not hub.serves_locally(session):
            try:
                answer = await hub.upstream.client.post(
                    f"{API_PREFIX}/sync/push", content=raw, headers=_forward_headers(request), timeout=60.0
                )
            except httpx.TransportError as error:
                hub.upstream.mark_down(f"push {type(error).__name__}")
            else:
                if answer.status_code not in _UNREACHABLE_STATUS:
                    return _copy(answer)
                hub.upstream.mark_down(f"push {answer.status_code}")
        if session is None and token and not token.startswith(HUB_TOKEN_PREFIX):
            raise AuthFailed(tr("hub.unknown_session", lang), code="token_invalid")
        session = await hub.sessions.lookup(token, lang)
        _allowed(session, lang, "POST /api/v1/sync/push")
        if hub.foreign(session):
            return _unreachable(request)
        body: PushRequest = parse(PushRequest, raw, request)
        shareable = [_shareable(m.name, m.args, session.roles) for m in body.mutations]
        try:
            appended = await hub.db.run(
                HubStore.append,
                client_id=body.client_id,
                device_id=session.device_id,
                staff_id=session.staff_id,
                campus_id=session.campus_id,
                envelopes=body.mutations,
                shareable=shareable,
            )
        except SequenceProblem as problem:
            got = next((m.client_seq for m in body.mutations if m.mutation_id == problem.mutation_id), 0)
            message = (
                tr("sync.seq_reused", lang, seq=got)
                if problem.code == "client_seq_reused"
                else tr("sync.seq_gap", lang, expected=problem.expected, got=got)
            )
            return _error(
                409, problem.code, message, {"expected": problem.expected, "mutation_id": problem.mutation_id}
            )
        hub.board.hide(m.mutation_id for m, share in zip(body.mutations, shareable, strict=True) if not share)
        hub.board.add(appended.new)
        hub.relay.kick()
        response = PushResponse(
            outcomes=appended.outcomes,
            last_client_seq=appended.last_client_seq,
            server_time=dt.datetime.now(dt.UTC),
            shared=appended.shared,
        )
        return Response(content=response.model_dump_json(), media_type="application/json")

    @app.get(f"{API_PREFIX}/sync/pull", response_model=PullResponse)
    async def pull(
        request: Request,
        cursor: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PULL_LIMIT)] = 500,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
        lan_after: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0,
    ) -> Response:
        hub = the_hub()
        token = _bearer(request)
        lang = _lang(request)
        session = hub.sessions.known(token)
        if not hub.serves_locally(session):
            answer = await _proxied_pull(
                hub, request, session, cursor=cursor, limit=limit, wait=wait, lan_after=lan_after
            )
            if answer is not None:
                return answer
        if session is None and token and not token.startswith(HUB_TOKEN_PREFIX):
            raise AuthFailed(tr("hub.unknown_session", lang), code="token_invalid")
        session = await hub.sessions.lookup(token, lang)
        _allowed(session, lang, "GET /api/v1/sync/pull")
        if hub.foreign(session):
            return _unreachable(request)
        return await _local_pull(hub, session, cursor=cursor, limit=limit, wait=wait, lan_after=lan_after)

    @app.get(f"{API_PREFIX}/sync/bootstrap")
    async def bootstrap(request: Request, after: Annotated[int, Query(ge=0, le=MAX_CURSOR)] = 0) -> Response:
        hub = the_hub()
        token = _bearer(request)
        lang = _lang(request)
        session = hub.sessions.known(token)
        if not hub.serves_locally(session):
            try:
                sent = hub.upstream.client.build_request(
                    "GET",
                    f"{API_PREFIX}/sync/bootstrap",
                    params=request.query_params,
                    headers=_forward_headers(request),
                    timeout=httpx.Timeout(120.0, connect=2.0),
                )
                answer = await hub.upstream.client.send(sent, stream=True)
            except httpx.TransportError as error:
                hub.upstream.mark_down(f"bootstrap {type(error).__name__}")
            else:
                if answer.status_code not in _UNREACHABLE_STATUS:
                    return _streamed(answer)
                await answer.aclose()
                hub.upstream.mark_down(f"bootstrap {answer.status_code}")
        if session is None and token and not token.startswith(HUB_TOKEN_PREFIX):
            raise AuthFailed(tr("hub.unknown_session", lang), code="token_invalid")
        session = await hub.sessions.lookup(token, lang)
        _allowed(session, lang, "GET /api/v1/sync/bootstrap")
        if hub.foreign(session):
            return _unreachable(request)
        return StreamingResponse(_local_bootstrap(hub, session, after), media_type="application/x-ndjson")

    # -- reads the hub answers from its replica while the central API is away ----------------------
    async def local_reader(request: Request, path: str) -> Response | Session:
        """The central API's answer while it answers (a central token); else the caller's session, for
        the hub to answer itself (401 as the central API for no token or one the hub does not know)."""
        hub = the_hub()
        token = _bearer(request)
        lang = _lang(request)
        if hub.upstream.up and not (token or "").startswith(HUB_TOKEN_PREFIX):
            answer = await forward(request, path)
            if answer is not None:
                return answer
        if hub.sessions.known(token) is None and token and not token.startswith(HUB_TOKEN_PREFIX):
            raise AuthFailed(tr("hub.unknown_session", lang), code="token_invalid")
        return await hub.sessions.lookup(token, lang)

    @app.get(f"{API_PREFIX}/reference/{{kind}}")
    async def reference(request: Request, kind: str) -> Response:
        hub = the_hub()
        reader = await local_reader(request, f"reference/{kind}")
        if isinstance(reader, Response):
            return reader
        if hub.foreign(reader):
            return _unreachable(request)
        lang = _lang(request)
        q, limit = reads.reference_query(kind, request.query_params, lang)
        return JSONResponse(await reads.reference(hub.db, reader, kind, q, limit, lang))

    @app.get(f"{API_PREFIX}/queue")
    async def queues(request: Request) -> Response:
        hub = the_hub()
        reader = await local_reader(request, "queue")
        if isinstance(reader, Response):
            return reader
        if hub.foreign(reader):
            return _unreachable(request)
        listed = await reads.queues(hub.db, reader, _lang(request))
        return JSONResponse([q.model_dump(mode="json") for q in listed])

    # -- everything else: through to the central API while it answers ------------------------------
    @app.api_route(f"{API_PREFIX}/{{path:path}}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def other(request: Request, path: str) -> Response:
        return await passthrough(request, path)

    async def passthrough(request: Request, path: str) -> Response:
        """The central API's answer, or 503 ``central_unreachable`` (queue calls that need the day's
        numbers or live order say where to go instead: the triage desk)."""
        hub = the_hub()
        token = _bearer(request)
        answer = None
        if hub.upstream.up and not (token or "").startswith(HUB_TOKEN_PREFIX):
            answer = await forward(request, path)
        if answer is not None:
            return answer
        if path == "queue" or path.startswith("queue/"):
            return _unreachable(request, "hub.queue_needs_central")
        return _unreachable(request)

    async def forward(request: Request, path: str) -> Response | None:
        """The central API's answer streamed through; None when it cannot be reached."""
        hub = the_hub()
        try:
            sent = hub.upstream.client.build_request(
                request.method,
                f"{API_PREFIX}/{path}",
                params=request.query_params,
                content=await request.body(),
                headers=_forward_headers(request),
                timeout=httpx.Timeout(60.0, connect=2.0),
            )
            answer = await hub.upstream.client.send(sent, stream=True)
        except httpx.TransportError as error:
            hub.upstream.mark_down(f"{path} {type(error).__name__}")
            return None
        return _streamed(answer)

    return app


# -- pulls ----------------------------------------------------------------------------------------------
# the pickup code a mutation carries (the patient's secret), by mutation name: pharmacists only
PICKUP_SECRETS = {
    "rx.review": "pickup_code",
    "rx.pay": "pickup_code",
    "rx.pickup_reissue": "pickup_code",
    "rx.pickup_verify": "code",
    "rx.dispense": "pickup_code",
}
SECRET_ROLES = frozenset({"pharmacist"})


def stand_in_code(rx_id: str) -> str:
    """A six-digit code that replaces a pickup code in LAN entries served to staff who may not know it:
    derived from the prescription id only (no relation to the real code, the same for every entry of
    that prescription), so the entries still replay through the shared handlers on their PCs (approval
    issues a code, the dispense presents the same one) while the digest those PCs keep is blanked anyway."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"clinic-hub-stand-in:{rx_id}:{counter}".encode()).digest()
        code = f"{int.from_bytes(digest[:8], 'big') % 10**6:06d}"
        if not easy_to_guess(code):
            return code
        counter += 1


def without_secrets(entry: LanMutation) -> LanMutation:
    """The entry as a non-pharmacist's PC receives it: any pickup code replaced by ``stand_in_code``."""
    key = PICKUP_SECRETS.get(entry.name)
    if key is None or not entry.args.get(key):
        return entry
    args = {**entry.args, key: stand_in_code(str(entry.args.get("rx_id", "")))}
    return entry.model_copy(update={"args": args})


def _lan_for(hub: Hub, session: Session | None, lan_after: int) -> tuple[list[Any], int]:
    if session is not None and not session.roles & LAN_ROLES:
        return [], hub.board.head
    entries, lan_next = hub.board.after(lan_after)
    if session is None or not session.roles & SECRET_ROLES:
        entries = [without_secrets(entry) for entry in entries]
    return entries, lan_next


async def _proxied_pull(
    hub: Hub,
    request: Request,
    session: Session | None,
    *,
    cursor: int,
    limit: int,
    wait: float,
    lan_after: int,
) -> Response | None:
    """The central API's pull with the LAN's entries added; None when the hub must answer itself (the
    central API went away, or a LAN entry arrived while a known PC's long-poll was open upstream)."""
    params = {"cursor": cursor, "limit": limit, "wait": wait}
    call = asyncio.ensure_future(
        hub.upstream.client.get(
            f"{API_PREFIX}/sync/pull",
            params=params,
            headers=_forward_headers(request),
            timeout=httpx.Timeout(wait + 15.0, connect=2.0),
        )
    )
    ticket = hub.wakeup.ticket()
    try:
        while not call.done():
            waiter = asyncio.ensure_future(ticket.wait())
            await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if call.done():
                break
            ticket = hub.wakeup.ticket()
            if session is not None and (
                not hub.upstream.up or hub.board.pending or _lan_for(hub, session, lan_after)[0]
            ):
                call.cancel()
                return None
        answer = call.result()
    except httpx.TransportError as error:
        hub.upstream.mark_down(f"pull {type(error).__name__}")
        return None
    finally:
        if not call.done():
            call.cancel()
    if answer.status_code in _UNREACHABLE_STATUS:
        hub.upstream.mark_down(f"pull {answer.status_code}")
        return None
    if answer.status_code != 200:
        return _copy(answer)
    data = json.loads(answer.content)
    lan, lan_next = _lan_for(hub, session, lan_after)
    data["lan"] = [entry.model_dump(mode="json") for entry in lan]
    data["lan_next"] = lan_next
    data["hub"] = hub.info().model_dump(mode="json")
    return Response(content=json.dumps(data, ensure_ascii=False), media_type="application/json")


async def _local_pull(
    hub: Hub, session: Session, *, cursor: int, limit: int, wait: float, lan_after: int
) -> Response:
    """Replica changes after ``cursor`` (per the session's roles) and the LAN's entries after
    ``lan_after``; an empty answer waits up to ``wait`` for either, holding no thread or connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        ticket = hub.wakeup.ticket()
        if hub.replica.known and cursor >= hub.replica.head:
            # nothing newer in the replica (its head moves only after a page is committed): no trip
            # to the database thread, where the pushes' durable writes would hold this answer up
            changes: list[Change] = []
            has_more = False
        else:
            changes, has_more = await hub.db.run(HubStore.replica_page, cursor=cursor, limit=limit)
        lan, lan_next = _lan_for(hub, session, lan_after)
        remaining = deadline - loop.time()
        if changes or has_more or lan or remaining <= 0:
            break
        await Wakeup.wait(ticket, remaining)
    response = PullResponse(
        changes=_restricted(changes, session.roles),
        next_cursor=changes[-1].seq if changes else cursor,
        has_more=has_more,
        server_time=dt.datetime.now(dt.UTC),
        lan=lan,
        lan_next=lan_next,
        hub=hub.info(),
    )
    return Response(content=response.model_dump_json(), media_type="application/json")


async def _local_bootstrap(hub: Hub, session: Session, after: int) -> AsyncIterator[bytes]:
    """The replica as the central API's NDJSON snapshot: header, chunks each closed by a checkpoint with
    the chunk's SHA-256, end (same format as ``server_stub.services.feed.stream_bootstrap``)."""
    import hashlib

    head = hub.replica.head
    header = BootstrapHeader(
        after=after,
        head=head,
        server_time=dt.datetime.now(dt.UTC),
        reference_version=await hub.db.run(HubStore.reference_version),
        estimated_items=await hub.db.run(HubStore.replica_count, after),
    )
    yield header.model_dump_json().encode() + b"\n"
    cursor, total = after, 0
    while True:
        changes, has_more = await hub.db.run(HubStore.replica_page, cursor=cursor, limit=BOOTSTRAP_CHUNK)
        lines = [
            BootstrapItem(change=c).model_dump_json().encode() for c in _restricted(changes, session.roles)
        ]
        if lines:
            yield b"\n".join(lines) + b"\n"
            cursor = changes[-1].seq
        total += len(lines)
        if lines or has_more:
            checkpoint = BootstrapCheckpoint(
                seq=cursor, count=len(lines), sha256=hashlib.sha256(b"\n".join(lines)).hexdigest()
            )
            yield checkpoint.model_dump_json().encode() + b"\n"
        if not has_more:
            break
    yield BootstrapEnd(cursor=cursor, total=total).model_dump_json().encode() + b"\n"
