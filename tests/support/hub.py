"""A real clinic hub process on loopback for tests, and a TCP link between hub and central you can cut."""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import CliProcess, ServerProcess, free_port


class CutLink:
    """A TCP relay on loopback (``url``) to ``target_port``: ``cut()`` drops every open connection and
    refuses new ones (as a dead WAN link with a router that answers), ``restore()`` lets them through."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._loop, name="cut-link", daemon=True)
        self._thread.start()
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _poke(self) -> None:
        self._wake_w.send(b"x")

    def restore(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(128)
            listener.setblocking(False)
            self._listener = listener
        self._poke()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        self._poke()
        time.sleep(0.05)  # the loop unregisters them first
        if listener is not None:
            listener.close()
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.cut()
        self._stop.set()
        self._poke()
        self._thread.join(5)

    def _loop(self) -> None:
        registered: set[int] = set()
        while not self._stop.is_set():
            with self._lock:
                listener = self._listener
                pairs = list(self._pairs)
            wanted = {}
            if listener is not None:
                wanted[listener.fileno()] = (listener, None)
            for a, b in pairs:
                wanted[a.fileno()] = (a, b)
                wanted[b.fileno()] = (b, a)
            for key in list(self._selector.get_map().values()):
                if key.fileobj is self._wake_r:
                    continue
                if key.fd not in wanted or key.fileobj is not wanted[key.fd][0]:
                    self._selector.unregister(key.fileobj)
                    registered.discard(key.fd)
            for fd, (sock, peer) in wanted.items():
                if fd not in registered:
                    self._selector.register(sock, selectors.EVENT_READ, peer)
                    registered.add(fd)
            for key, _ in self._selector.select(0.5):
                if key.fileobj is self._wake_r:
                    self._wake_r.recv(4096)
                    continue
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is listener:
                    try:
                        client, _ = sock.accept()
                        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                    except OSError:
                        continue
                    with self._lock:
                        self._pairs.append((client, upstream))
                    continue
                peer = key.data
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        peer.sendall(data)
                        continue
                    except OSError:
                        pass
                with self._lock:
                    self._pairs = [p for p in self._pairs if sock not in p]
                for s in (sock, peer):
                    with contextlib.suppress(KeyError, ValueError):
                        self._selector.unregister(s)
                    registered.discard(s.fileno())
                    s.close()


STARTED: list[HubProcess] = []  # every hub a test started: ``stop_all`` after each test ends them all


def stop_all() -> None:
    """Stop every hub process still running (a test that replaced or restarted its hub leaves the new
    one to this)."""
    while STARTED:
        STARTED.pop().stop()


class HubProcess(CliProcess):
    """``clinic hub`` in a subprocess; logs go to ``log_path``."""

    what = "hub"

    def __init__(
        self,
        upstream: str,
        db_path: Path,
        log_path: Path,
        *,
        credential: str = "hub_test.not-enrolled-secret",
        port: int | None = None,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.upstream = upstream
        self.db_path = db_path
        self.log_path = log_path
        self.credential = credential
        self.port = port or free_port()
        self.extra = extra or []
        self.env = env or {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> HubProcess:
        env = {**os.environ, "CLINIC_HUB_CREDENTIAL": self.credential, **self.env}
        STARTED.append(self)
        args = ["hub", "--upstream", self.upstream, "--db", str(self.db_path), "--host", "127.0.0.1"]
        self._launch([*args, "--port", str(self.port), *self.extra], env, timeout, verify=True)
        return self

    def health(self) -> dict[str, object]:
        return dict(httpx.get(f"{self.url}/healthz", timeout=5.0).json())

    def status(self) -> dict[str, Any]:
        """What ``clinic hub status --url`` reads (``/hub/status``)."""
        return dict(httpx.get(f"{self.url}/hub/status", timeout=10).json())

    def caught_up(self) -> bool:
        """The replica holds the central feed up to the head the central API last named."""
        facts = self.status()
        return bool(facts.get("central_head")) and int(facts["replica_cursor"]) >= int(facts["central_head"])

    def wait_upstream(self, up: bool, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hub = self.health()["hub"]
            assert isinstance(hub, dict)
            if hub["upstream"] is up:
                return
            time.sleep(0.05)
        raise AssertionError(f"hub upstream never became {up}: {self.log_path.read_text()[-2000:]}")


def enrol_hub(
    central: ServerProcess, campus: str = "MAIN", name: str = "test hub", timeout: float = 60.0
) -> str:
    """A hub credential from ``clinic hub-enrol`` on the central's database (printed once, last line)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shared.cli",
            "hub-enrol",
            "--db",
            central.db_url,
            "--name",
            name,
            "--campus",
            campus,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **central.env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].strip()


def until(check: Callable[[], Any], timeout: float = 90.0, what: str = "") -> Any:
    """``check()``'s first true value, asked every 0.1 s for at most ``timeout`` seconds (a ceiling for a
    busy machine: a wait that holds returns at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
