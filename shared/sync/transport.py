"""``ApiTransport``: the central API over httpx, with every failure mapped to the suite's error kinds.

Network errors, timeouts, 5xx and 429 become ``TransientError`` (retry later); 401 ``AuthFailed`` with
the server's code (``token_expired`` …); 423 ``AccountLocked``; 410 ``CursorReset``; a client_seq gap
or reuse ``SequenceMismatch``. A push answered 422/403 ``mutations_refused`` is a normal push answer
(the refused mutations are stored as rejected) and is returned as such. Thread-safe (httpx.Client is).

Several servers (``server_url`` as a list: the clinic hub first, the central API second): calls go to
the current one; when it cannot be reached at all (connection refused, connect timeout: no HTTP answer)
the call goes to the next one in the list, which becomes current. ``probe`` (the engine's healthz while
offline) asks them in list order, and ``prefer_earlier`` (while online on a later one) moves back to an
earlier one as soon as it answers. Every switch is logged; ``on_switch`` hears it. The pinned CA
(``verify``) applies to every server of the list.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from shared.errors import AccountLocked, AuthFailed, Conflict, SuiteError, TransientError
from shared.i18n import DEFAULT_LANGUAGE
from shared.protocol.models import (
    API_PREFIX,
    LoginRequest,
    LoginResponse,
    MutationEnvelope,
    PullResponse,
    PushRequest,
    PushResponse,
    ServerInfo,
)

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = {408, 425, 429}


class CursorReset(SuiteError):
    """410: the server no longer serves our cursor (``cursor_expired``) or never had it (``cursor_ahead``).
    Push the outbox, then bootstrap again; never drop the outbox."""

    code = "cursor_expired"


class SequenceMismatch(Conflict):
    """409: the batch does not continue this client's sequence (``client_seq_gap`` / ``client_seq_reused``).
    ``detail`` holds ``expected`` and the ``outcomes`` applied before the break."""

    code = "client_seq_gap"


class PayloadTooLarge(SuiteError):
    code = "body_too_large"


class ProtocolError(SuiteError):
    """An answer the client cannot use (a bug on one side); not retried blindly."""

    code = "protocol_error"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def raise_for_answer(response: httpx.Response) -> None:
    """Raise the suite error that an error answer means; return quietly for 2xx."""
    status = response.status_code
    if status < 400:
        return
    body = _body(response)
    code = str(body.get("code") or f"http_{status}")
    message = str(body.get("message") or response.reason_phrase or f"HTTP {status}")
    detail = body.get("detail")
    if status >= 500 or status in _TRANSIENT_STATUS:
        raise TransientError(message, code=code, detail=detail)
    if status == 401:
        raise AuthFailed(message, code=code, detail=detail)
    if status == 423:
        raise AccountLocked(message, code=code, detail=detail)
    if status == 410:
        raise CursorReset(message, code=code, detail=detail)
    if status == 409 and code in ("client_seq_gap", "client_seq_reused"):
        raise SequenceMismatch(message, code=code, detail=detail)
    if status == 409:
        raise Conflict(message, code=code, detail=detail)
    if status == 413:
        raise PayloadTooLarge(message, code=code, detail=detail)
    raise ProtocolError(message, code=code, detail=detail)


_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout)


class ApiTransport:
    """Calls to the central API, or to the first answering server of a list (see the module docstring).
    ``token`` is sent as a bearer token once set."""

    def __init__(
        self,
        base_url: str | Sequence[str],
        *,
        timeout: float = 15.0,
        lang: str = DEFAULT_LANGUAGE,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
        on_switch: Callable[[str, str], None] | None = None,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ValueError("no server URL")
        self.urls = [url.rstrip("/") for url in urls]
        self.timeout = timeout
        self.on_switch = on_switch
        self._current = 0
        self._switch_lock = threading.Lock()
        # what each server's /healthz said last (role "hub" or "central"), by URL
        self.seen: dict[str, ServerInfo] = {}
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept-Language": lang.replace("_", "-")},
            verify=verify,
            transport=transport,
        )
        self._token: str | None = None

    @property
    def base_url(self) -> str:
        """The server calls go to now."""
        return self.urls[self._current]

    @property
    def current_index(self) -> int:
        return self._current

    def role(self) -> str:
        """``"hub"`` or ``"central"`` as the current server's /healthz said, ``""`` if not asked yet."""
        info = self.seen.get(self.base_url)
        return info.role if info is not None else ""

    def _switch(self, index: int) -> None:
        with self._switch_lock:
            if index == self._current:
                return
            before, self._current = self.urls[self._current], index
        after = self.urls[index]
        log.warning(
            "server switch: %s -> %s (%d of %d in the list)", before, after, index + 1, len(self.urls)
        )
        if self.on_switch is not None:
            try:
                self.on_switch(before, after)
            except Exception:  # noqa: BLE001 - a listener must not break a call
                log.exception("on_switch callback failed")

    def _order(self, first: bool) -> list[int]:
        """Servers to try: the list's order from the start (``first``), else the current one, then the
        others in list order."""
        if first:
            return list(range(len(self.urls)))
        current = self._current
        return [current, *(n for n in range(len(self.urls)) if n != current)]

    @property
    def token(self) -> str | None:
        return self._token

    def set_token(self, token: str | None) -> None:
        self._token = token

    def close(self) -> None:
        self._http.close()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        return {**headers, **(extra or {})}

    def _call(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        extra_headers: dict[str, str] | None = None,
        first: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        full = path if path.startswith("/healthz") else f"{API_PREFIX}{path}"
        problems: list[str] = []
        for index in self._order(first):
            url = self.urls[index]
            try:
                response = self._http.request(
                    method,
                    url + full,
                    headers=self._headers(extra_headers),
                    timeout=httpx.Timeout(timeout, connect=min(self.timeout, 5.0))
                    if timeout
                    else httpx.USE_CLIENT_DEFAULT,
                    **kwargs,
                )
            except _UNREACHABLE as error:  # no HTTP answer at all: the next server of the list
                problems.append(f"{url}: {type(error).__name__}: {error}")
                continue
            except httpx.TransportError as error:  # reset, read timeout, cut body …: not switched
                raise TransientError(f"{type(error).__name__}: {error}", code="network") from error
            self._switch(index)
            return response
        raise TransientError("; ".join(problems), code="network")

    def _stream(self, path: str, params: dict[str, Any] | None, timeout: Any = None) -> httpx.Response:
        """A streamed GET on the first reachable server (current first), as ``_call`` chooses."""
        problems: list[str] = []
        for index in self._order(False):
            url = self.urls[index]
            request = self._http.build_request(
                "GET",
                f"{url}{API_PREFIX}{path}",
                params=params,
                headers=self._headers(),
                **({"timeout": timeout} if timeout is not None else {}),
            )
            try:
                response = self._http.send(request, stream=True)
            except _UNREACHABLE as error:
                problems.append(f"{url}: {type(error).__name__}: {error}")
                continue
            except httpx.TransportError as error:
                raise TransientError(f"{type(error).__name__}: {error}", code="network") from error
            self._switch(index)
            return response
        raise TransientError("; ".join(problems), code="network")

    def _parse(self, model: type[Any], response: httpx.Response) -> Any:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            # A truncated or garbled body is a network problem until proven otherwise.
            raise TransientError(f"unreadable answer from the server: {error}", code="bad_answer") from error

    # -- endpoints ---------------------------------------------------------------------------------
    def health(self, *, first: bool = False) -> ServerInfo:
        """``GET /healthz`` of the current server (the next one if it cannot be reached); with
        ``first``, of the first server of the list that answers (the engine's probe while offline)."""
        response = self._call("GET", "/healthz", timeout=min(self.timeout, 5.0), first=first)
        raise_for_answer(response)
        info: ServerInfo = self._parse(ServerInfo, response)
        self.seen[str(response.request.url).removesuffix("/healthz")] = info
        return info

    def prefer_earlier(self, timeout: float = 2.0) -> ServerInfo | None:
        """While a later server of the list is current: ask the earlier ones (in order) for /healthz and
        make the first that answers current. Returns its answer, or None (nothing changed)."""
        for index in range(self._current):
            url = self.urls[index]
            try:
                response = self._http.get(f"{url}/healthz", timeout=httpx.Timeout(timeout))
                raise_for_answer(response)
                info: ServerInfo = self._parse(ServerInfo, response)
            except (httpx.TransportError, SuiteError):
                continue
            self.seen[url] = info
            self._switch(index)
            return info
        return None

    def login(
        self,
        *,
        username: str,
        password: str,
        device_id: str,
        campus_id: str | None = None,
        device_secret: str | None = None,
        desk_slot: int | None = None,
    ) -> LoginResponse:
        """Raises AuthFailed for every refusal (``login_failed``; ``too_many_attempts`` when this PC's
        address failed too often lately: not a network problem, so no offline fallback is offered)."""
        body = LoginRequest(
            username=username,
            password=password,
            device_id=device_id,
            campus_id=campus_id,
            device_secret=device_secret,
            desk_slot=desk_slot,
        )
        response = self._call("POST", "/auth/login", json=body.model_dump(mode="json", exclude_none=True))
        if response.status_code == 429 and _body(response).get("code") == "too_many_attempts":
            payload = _body(response)
            raise AuthFailed(
                str(payload.get("message")), code="too_many_attempts", detail=payload.get("detail")
            )
        raise_for_answer(response)
        return self._parse(LoginResponse, response)  # type: ignore[no-any-return]

    def setup(
        self,
        *,
        username: str,
        setup_code: str,
        new_password: str,
        device_id: str,
        campus_id: str | None = None,
        device_secret: str | None = None,
    ) -> LoginResponse:
        """The first login with a one-time setup code: sets the password and logs in. Raises
        ValidationFailed (``weak_password``) for a password the policy refuses, AuthFailed
        (``setup_failed``, ``too_many_attempts``) for a wrong, used or expired code."""
        body = {
            "username": username,
            "setup_code": setup_code,
            "new_password": new_password,
            "device_id": device_id,
            "campus_id": campus_id,
            "device_secret": device_secret,
        }
        response = self._call("POST", "/auth/setup", json={k: v for k, v in body.items() if v is not None})
        if response.status_code == 429 and _body(response).get("code") == "too_many_attempts":
            payload = _body(response)
            raise AuthFailed(
                str(payload.get("message")), code="too_many_attempts", detail=payload.get("detail")
            )
        raise_for_answer(response)
        return self._parse(LoginResponse, response)  # type: ignore[no-any-return]

    def logout(self) -> None:
        raise_for_answer(self._call("POST", "/auth/logout"))

    def push(self, client_id: str, mutations: list[MutationEnvelope]) -> PushResponse:
        body = PushRequest(client_id=client_id, mutations=mutations)
        response = self._call(
            "POST",
            "/sync/push",
            content=body.model_dump_json().encode(),
            extra_headers={"Content-Type": "application/json"},
            timeout=max(self.timeout, 60.0),
        )
        if response.status_code in (403, 422):
            payload = _body(response)
            if payload.get("code") == "mutations_refused" and isinstance(payload.get("detail"), dict):
                # Some mutations were refused (unknown name, bad args, role) and stored as rejected:
                # the detail is the complete push answer.
                try:
                    return PushResponse.model_validate(payload["detail"])
                except ValidationError as error:
                    raise ProtocolError(f"unreadable push answer: {error}") from error
        raise_for_answer(response)
        return self._parse(PushResponse, response)  # type: ignore[no-any-return]

    def pull(
        self, cursor: int, *, limit: int = 1000, wait: float = 0.0, lan_after: int | None = None
    ) -> PullResponse:
        """``lan_after``: how far this PC has read a clinic hub's LAN list (the central API ignores it)."""
        params: dict[str, Any] = {"cursor": cursor, "limit": limit, "wait": wait}
        if lan_after is not None:
            params["lan_after"] = lan_after
        response = self._call("GET", "/sync/pull", params=params, timeout=self.timeout + wait)
        raise_for_answer(response)
        return self._parse(PullResponse, response)  # type: ignore[no-any-return]

    def queue_check_in(self, appointment_number: str, *, within_window: bool) -> dict[str, Any]:
        """``POST /queue/check-in`` by appointment number: the ticket's status view (label, queue_name,
        ahead, room_name, already_checked_in, …) as a dict. With ``within_window`` the server refuses a
        check-in outside the appointment's window (``outside_check_in_window``, detail with
        ``slot_time``, ``opens_at``, ``closes_at``, ``verdict``); other refusals raise their suite error."""
        response = self._call(
            "POST",
            "/queue/check-in",
            json={"appointment_number": appointment_number, "within_window": within_window},
        )
        raise_for_answer(response)
        try:
            answer = response.json()
        except ValueError as error:
            raise TransientError(f"unreadable answer from the server: {error}", code="bad_answer") from error
        if not isinstance(answer, dict):
            raise TransientError("unreadable answer from the server: not an object", code="bad_answer")
        return answer

    def call(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """Any other endpoint (``/admin/...`` for the administration window): the answer, or the suite
        error an error answer means (``raise_for_answer``)."""
        response = self._call(method, path, timeout=timeout, **kwargs)
        raise_for_answer(response)
        return response

    def download(
        self, path: str, target: Path, *, params: dict[str, Any] | None = None, timeout: float = 300.0
    ) -> Path:
        """Stream a GET answer into ``target`` (written beside it first, then moved into place, so a cut
        connection never leaves half a file under that name); error answers raise as in ``call``."""
        partial = target.with_name(target.name + ".part")
        try:
            response = self._stream(path, params, httpx.Timeout(timeout, connect=min(self.timeout, 5.0)))
            try:
                if response.status_code >= 400:
                    response.read()
                    raise_for_answer(response)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
            finally:
                response.close()
        except httpx.TransportError as error:
            partial.unlink(missing_ok=True)
            raise TransientError(f"{type(error).__name__}: {error}", code="network") from error
        partial.replace(target)
        return target

    @contextmanager
    def bootstrap(self, after: int) -> Iterator[Iterator[bytes]]:
        """The NDJSON snapshot after checkpoint ``after``, as raw lines (bytes, without the newline).
        Network failures while streaming raise ``TransientError``."""
        response = self._stream("/sync/bootstrap", {"after": after})
        try:
            if response.status_code >= 400:
                response.read()
                raise_for_answer(response)
            yield _lines(response)
        except httpx.TransportError as error:
            raise TransientError(f"{type(error).__name__}: {error}", code="network") from error
        finally:
            response.close()


def _lines(response: httpx.Response) -> Iterator[bytes]:
    buffer = b""
    try:
        for chunk in (
            response.iter_raw(65536)
            if not response.headers.get("content-encoding")
            else response.iter_bytes()
        ):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            yield from lines
    except httpx.TransportError as error:
        raise TransientError(f"{type(error).__name__}: {error}", code="network") from error
    if buffer:
        yield buffer
