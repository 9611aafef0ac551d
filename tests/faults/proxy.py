"""A small TCP proxy for fault injection between a client and the real server process.

Faults are armed with a count and hit the next requests or responses that pass through:
``drop_requests`` closes the connection before a request reaches the server; ``drop_responses`` lets
the request through (the server commits) but closes the connection instead of answering;
``cut_responses_after`` forwards only the first N bytes of a response, then cuts (mid-page, mid-stream);
``offline`` refuses everything, as a pulled cable would.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Faults:
    offline: bool = False
    drop_requests: int = 0
    drop_responses: int = 0
    cut_responses: int = 0
    cut_after: int = 0


class FaultProxy:
    """Listens on a free loopback port and forwards to ``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._faults = _Faults()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self.stats = {"connections": 0, "requests_dropped": 0, "responses_dropped": 0, "responses_cut": 0}
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut_all()

    # -- arming faults -----------------------------------------------------------------------------
    def set_offline(self, offline: bool) -> None:
        with self._lock:
            self._faults.offline = offline
        if offline:
            self.cut_all()

    def drop_requests(self, count: int = 1) -> None:
        with self._lock:
            self._faults.drop_requests += count

    def drop_responses(self, count: int = 1) -> None:
        with self._lock:
            self._faults.drop_responses += count

    def cut_responses_after(self, nbytes: int, count: int = 1) -> None:
        with self._lock:
            self._faults.cut_after = nbytes
            self._faults.cut_responses += count

    def clear_faults(self) -> None:
        """Disarm every fault and come back online."""
        with self._lock:
            self._faults = _Faults()

    def cut_all(self) -> None:
        """Cut every open connection now (a network outage mid-request)."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _close(conn)

    # -- plumbing ----------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                offline = self._faults.offline
                self.stats["connections"] += 1
            if offline:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            link = _Link(self, client, upstream)
            with self._lock:
                self._conns.update((client, upstream))
            threading.Thread(target=link.client_to_server, daemon=True).start()
            threading.Thread(target=link.server_to_client, daemon=True).start()

    def _take(self, name: str) -> bool:
        with self._lock:
            left = getattr(self._faults, name)
            if left > 0:
                setattr(self._faults, name, left - 1)
                return True
            return False

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._conns.discard(sock)


class _Link:
    """One proxied connection; knows whether a response is awaited to tell requests from responses."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.awaiting = False
        self.in_response = False
        self.cut_at: int | None = None
        self.sent = 0

    def shut(self) -> None:
        _close(self.client)
        _close(self.upstream)
        self.proxy._forget(self.client, self.upstream)

    def client_to_server(self) -> None:
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                if not self.awaiting:
                    self.awaiting, self.in_response = True, False
                    if self.proxy._take("drop_requests"):
                        self.proxy.stats["requests_dropped"] += 1
                        break
                self.upstream.sendall(data)
        except OSError:
            pass
        self.shut()

    def server_to_client(self) -> None:
        try:
            while True:
                data = self.upstream.recv(65536)
                if not data:
                    break
                if not self.in_response:
                    self.in_response, self.sent, self.cut_at = True, 0, None
                    if self.proxy._take("drop_responses"):
                        self.proxy.stats["responses_dropped"] += 1
                        break
                    if self.proxy._take("cut_responses"):
                        self.cut_at = self.proxy._faults.cut_after
                if self.cut_at is not None and self.sent + len(data) >= self.cut_at:
                    self.client.sendall(data[: max(0, self.cut_at - self.sent)])
                    self.proxy.stats["responses_cut"] += 1
                    break
                self.client.sendall(data)
                self.sent += len(data)
                # The next client bytes start a new request (keep-alive); good enough for HTTP/1.1
                # request-response traffic, which is all this proxy carries.
                self.awaiting = False
        except OSError:
            pass
        self.shut()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
