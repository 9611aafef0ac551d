"""``ApiTransport``: the central API over httpx, with every failure mapped to the suite's error kinds.

Network errors, timeouts, 5xx and 429 become ``TransientError`` (retry later); 401 ``AuthFailed`` with
the server's code (``token_expired`` …); 423 ``AccountLocked``; 410 ``CursorReset``; a client_seq gap
or reuse ``SequenceMismatch``. A push answered 422/403 ``mutations_refused`` is a normal push answer
(the refused mutations are stored as rejected) and is returned as such. Thread-safe (httpx.Client is).
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Iterator
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


class ApiTransport:
    """Calls to one central API. ``token`` is sent as a bearer token once set."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 15.0,
        lang: str = DEFAULT_LANGUAGE,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Accept-Language": lang.replace("_", "-")},
            verify=verify,
            transport=transport,
        )
        self._token: str | None = None

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
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            return self._http.request(
                method,
                path if path.startswith("/healthz") else f"{API_PREFIX}{path}",
                headers=self._headers(extra_headers),
                timeout=httpx.Timeout(timeout, connect=min(self.timeout, 5.0))
                if timeout
                else httpx.USE_CLIENT_DEFAULT,
                **kwargs,
            )
        except httpx.TransportError as error:  # connect refused, reset, timeout, cut body …
            raise TransientError(f"{type(error).__name__}: {error}", code="network") from error

    def _parse(self, model: type[Any], response: httpx.Response) -> Any:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            # A truncated or garbled body is a network problem until proven otherwise.
            raise TransientError(f"unreadable answer from the server: {error}", code="bad_answer") from error

    # -- endpoints ---------------------------------------------------------------------------------
    def health(self) -> ServerInfo:
        response = self._call("GET", "/healthz", timeout=min(self.timeout, 5.0))
        raise_for_answer(response)
        return self._parse(ServerInfo, response)  # type: ignore[no-any-return]

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

    def pull(self, cursor: int, *, limit: int = 1000, wait: float = 0.0) -> PullResponse:
        response = self._call(
            "GET",
            "/sync/pull",
            params={"cursor": cursor, "limit": limit, "wait": wait},
            timeout=self.timeout + wait,
        )
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
        request = self._http.build_request(
            "GET", f"{API_PREFIX}{path}", params=params, headers=self._headers(),
            timeout=httpx.Timeout(timeout, connect=min(self.timeout, 5.0)),
        )  # fmt: skip
        partial = target.with_name(target.name + ".part")
        try:
            response = self._http.send(request, stream=True)
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
        request = self._http.build_request(
            "GET", f"{API_PREFIX}/sync/bootstrap", params={"after": after}, headers=self._headers()
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as error:
            raise TransientError(f"{type(error).__name__}: {error}", code="network") from error
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
