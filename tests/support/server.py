"""A real central API process on loopback for tests: start, wait for /healthz, stop or SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.workers import worker_number

# In a run with xdist workers each worker takes its ports from a block of its own below the kernel's
# ephemeral range (32768-60999 on Linux), in turn: a port picked by one worker and released until its
# server binds it can then never be taken meanwhile by another worker's pick (both asking the kernel for
# "any free port" could get the same one) nor by an outgoing connection.
PORT_BLOCK = 2000
PORT_BASE = 12000
_next_port: list[int] = []


def free_port() -> int:
    """A loopback port nobody listens on now, for a server this test starts (or one that stays dead)."""
    worker = worker_number()
    if worker is None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    first = PORT_BASE + (worker % 10) * PORT_BLOCK
    if not _next_port:  # start at a point of the block of this run's own (two runs at once rarely meet)
        _next_port.append(os.getpid() % PORT_BLOCK)
    for _ in range(PORT_BLOCK):
        port = first + _next_port[0]
        _next_port[0] = (_next_port[0] + 1) % PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use (a server of this worker, or something else on the machine)
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{first + PORT_BLOCK - 1}")


class CliProcess:
    """A ``clinic`` command in a subprocess on loopback, its output in ``log_path``: started and waited
    for until ``/healthz`` answers, then stopped (SIGINT) or killed."""

    what = "process"  # as the errors name it
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _launch(
        self, args: list[str], env: dict[str, str], timeout: float, verify: bool | ssl.SSLContext
    ) -> None:
        """Run ``clinic ARGS`` and wait up to ``timeout`` seconds for ``/healthz`` to answer 200."""
        self._spawn(args, env)
        self._wait_healthy(timeout, verify)

    def _spawn(self, args: list[str], env: Mapping[str, str]) -> None:
        """Run ``clinic ARGS`` and return at once."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", *args], stdout=log, stderr=subprocess.STDOUT, env=dict(env)
        )

    def _wait_healthy(self, timeout: float, verify: bool | ssl.SSLContext) -> None:
        assert self.proc is not None, "start the process first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.what} exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0, verify=verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.what} did not become healthy: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as in a power cut."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class ServerProcess(CliProcess):
    """``clinic server`` in a subprocess; logs go to ``log_path``."""

    what = "server"

    def __init__(
        self,
        db_url: str,
        log_path: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        workers: int = 1,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        """``tls`` = (certificate, key, CA certificate): serve HTTPS and trust only that CA."""
        self.tls = tls
        self.db_url = db_url
        self.workers = workers
        self.port = port or free_port()
        self.log_path = log_path
        self.env = env or {}

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> ServerProcess:
        return self.launch().wait_ready(timeout)

    def launch(self, environ: Mapping[str, str] | None = None) -> ServerProcess:
        """Start the process and return at once (``wait_ready`` waits for /healthz); its environment is
        ``environ`` (default: this process's, as it is now) with ``env`` over it."""
        args = [
            "server",
            "--db",
            self.db_url,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *(["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []),
        ]
        self._spawn(args, {**(os.environ if environ is None else environ), **self.env})
        return self

    def wait_ready(self, timeout: float = 120.0) -> ServerProcess:
        self._wait_healthy(timeout, ssl.create_default_context(cafile=self.tls[2]) if self.tls else True)
        return self
