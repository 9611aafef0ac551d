"""Load generator for the central API (issue 2): latency percentiles per endpoint, throughput, errors."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import multiprocessing as mp
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from machine import describe  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

API = "/api/v1"
DEMO_PASSWORD = "Demo-2026"
DEMO_USERS = (
    [f"doctor{n}" for n in range(1, 25)]
    + [f"nurse{n}" for n in range(1, 5)]
    + [f"pharmacist{n}" for n in range(1, 5)]
    + ["admin"]
)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
FALLBACK_PREFIXES = ["a", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "p", "q", "t", "x", "y", "z"]
LONGPOLL_WAIT = 25
PULL_LIMIT = 200
# (endpoint, start wall time, latency seconds, status code or "exc:<name>")
Sample = tuple[str, float, float, int | str]


# ---------------------------------------------------------------------------------------------------
# Options and results


@dataclass(frozen=True)
class WorkerSpec:
    """What one generator process needs: its share of virtual users and the request settings."""

    server_url: str
    vu_indexes: tuple[int, ...]
    run_tag: str
    login_concurrency: int
    request_timeout: float
    start_at_head: bool
    longpoll_gap: float


@dataclass
class VirtualUser:
    """One simulated workstation: its own token, device, client id, client_seq and feed cursor."""

    index: int
    username: str
    device_id: str
    client_id: str
    token: str = ""
    cursor: int = 0
    seq: int = 0
    pending: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    client: RawClient = field(init=False, repr=False)

    def envelope(self) -> dict[str, Any]:
        """The push to send next: the unacknowledged one again (idempotent), else a fresh registration."""
        if self.pending is None:
            self.seq += 1
            self.pending = {
                "mutation_id": uuid.uuid4().hex,
                "client_seq": self.seq,
                "name": "patient.register",
                "args": {"id": str(uuid.uuid4()), "name": "压测患者", "sex": "F", "birth_date": "1980-01-01"},
                "base_version": None,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        return self.pending


@dataclass
class LongPollStats:
    returned_with_changes: int = 0
    returned_empty: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, other: LongPollStats) -> None:
        self.returned_with_changes += other.returned_with_changes
        self.returned_empty += other.returned_empty
        self.errors += other.errors
        for kind, n in other.error_kinds.items():
            self.error_kinds[kind] = self.error_kinds.get(kind, 0) + n


# ---------------------------------------------------------------------------------------------------
# A small HTTP/1.1 keep-alive client for the virtual users


class ConnectionDropped(Exception):
    """The server closed a kept-alive connection before answering (the request may be retried)."""


@dataclass
class RawResponse:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    def page_summary(self) -> tuple[int, bool]:
        """(next_cursor, whether it has changes) of a pull page without decoding its changes: a real PC
        decodes them on its own CPU, the generator would take that CPU from the server it measures. The
        server writes the cursor after the changes; any other shape is decoded in full."""
        content = self.content
        at = content.rfind(b',"next_cursor":')
        if not content.startswith(b'{"changes":[') or at < 0:
            page = self.json()
            return int(page["next_cursor"]), bool(page["changes"])
        tail = json.loads(b"{" + content[at + 1 :])
        return int(tail["next_cursor"]), not content.startswith(b'{"changes":[]')


class RawClient:
    """Just enough HTTP/1.1 for the load: keep-alive connections to one host, Content-Length or chunked
    bodies, JSON in and out. It costs a fraction of httpx's CPU per request, which matters because the
    generator shares the machine with the server it measures (with httpx it took more CPU than the
    server did). Event loop only."""

    def __init__(self, base_url: str, *, timeout: float, keepalive: float = 4.0, max_idle: int = 8) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.host_header = parts.netloc.encode()
        self.timeout = timeout
        self.keepalive = keepalive
        self.max_idle = max_idle
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        now = time.monotonic()
        while self._idle:
            reader, writer, used = self._idle.pop()
            if now - used < self.keepalive and not reader.at_eof():
                return reader, writer, True
            writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        return reader, writer, False

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        target = path + ("?" + urlencode(params) if params else "")
        lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: " + self.host_header]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        body = b""
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
            lines.append(b"Content-Type: application/json")
        lines.append(b"Content-Length: " + str(len(body)).encode())
        data = b"\r\n".join(lines) + b"\r\n\r\n" + body
        reader, writer, reused = await self._connection()
        try:
            response, keep = await asyncio.wait_for(
                self._exchange(reader, writer, data), timeout or self.timeout
            )
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            writer.close()
            if reused:
                raise ConnectionDropped(str(error)) from error
            raise
        except BaseException:
            writer.close()
            raise
        if keep and len(self._idle) < self.max_idle:
            self._idle.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return response

    @staticmethod
    async def _exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
    ) -> tuple[RawResponse, bool]:
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip()
        if b"content-length" in fields:
            content = await reader.readexactly(int(fields[b"content-length"]))
        elif fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            content = b"".join(chunks)
        else:
            content = await reader.read()
            return RawResponse(status, content), False
        return RawResponse(status, content), fields.get(b"connection", b"").lower() != b"close"

    async def close(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle = []


# ---------------------------------------------------------------------------------------------------
# Generator process


def _new_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def _worker_entry(worker: int, spec: WorkerSpec, commands: mp.Queue[Any], results: mp.Queue[Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        with asyncio.Runner(loop_factory=_new_loop_factory()) as runner:
            runner.run(_Generator(worker, spec, commands, results).serve())
    except Exception:  # noqa: BLE001 - report any failure to the parent rather than dying silently
        results.put(("failed", worker, traceback.format_exc()))


async def _sleep_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


class _Generator:
    """The virtual users of one process, driven by commands from the parent over a queue."""

    def __init__(
        self, worker: int, spec: WorkerSpec, commands: mp.Queue[Any], results: mp.Queue[Any]
    ) -> None:
        self.worker = worker
        self.spec = spec
        self.commands = commands
        self.results = results
        self.vus = [
            VirtualUser(
                index=i,
                username=DEMO_USERS[i % len(DEMO_USERS)],
                device_id=f"bench-{spec.run_tag}-{i:04d}",
                client_id=f"bench-{spec.run_tag}-{i:04d}-{uuid.uuid4().hex[:8]}",
            )
            for i in spec.vu_indexes
        ]
        self.prefixes = FALLBACK_PREFIXES
        self.longpolls: list[asyncio.Task[None]] = []
        self.longpoll_stop = False
        self.longpoll_window = (0.0, 0.0)
        self.longpoll_stats = LongPollStats()
        self.retries = 0

    async def serve(self) -> None:
        # One small client per VU (its own keep-alive connections: a loop request and a long-poll, or
        # three requests of a burst, at once). Keep-alive expires before the server's 5 s so a request
        # never races the server closing an idle connection.
        async with contextlib.AsyncExitStack() as stack:
            for vu in self.vus:
                vu.client = RawClient(self.spec.server_url, timeout=self.spec.request_timeout)
                stack.push_async_callback(vu.client.close)
            self.results.put(("ready", self.worker, await self.ramp()))
            while True:
                command, *args = await asyncio.to_thread(self.commands.get)
                if command == "open_longpolls":
                    self.open_longpolls(*args)
                    self.results.put(("open_longpolls", self.worker, None))
                elif command == "loop":
                    self.results.put(("loop", self.worker, await self.run_loop(*args)))
                elif command == "stop_longpolls":
                    self.longpoll_stop = True
                    self.results.put(("stop_longpolls", self.worker, None))
                elif command == "wake":
                    await self.push(self.vus[0])
                    self.results.put(("wake", self.worker, None))
                elif command == "join_longpolls":
                    self.results.put(("join_longpolls", self.worker, await self.join_longpolls()))
                elif command == "burst":
                    self.results.put(("burst", self.worker, await self.burst(*args)))
                elif command == "stop":
                    return

    # -- requests ---------------------------------------------------------------------------------

    async def request(
        self, vu: VirtualUser, method: str, url: str, **kwargs: Any
    ) -> tuple[float, int | str, RawResponse | None]:
        """One request, timed from the first attempt. A kept-alive connection that the server closed
        under our feet (its 5 s keep-alive timer fires late when its event loop lags) is retried once on a
        new connection, as a real client would; every request here is idempotent (push by mutation_id)."""
        started = time.perf_counter()
        for attempt in range(2):
            try:
                response = await vu.client.request(method, url, headers=vu.headers, **kwargs)
            except ConnectionDropped as error:
                if attempt == 0:
                    self.retries += 1
                    continue
                return time.perf_counter() - started, f"exc:{type(error).__name__}", None
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
                return time.perf_counter() - started, f"exc:{type(error).__name__}", None
            return time.perf_counter() - started, response.status_code, response
        raise AssertionError("unreachable")

    async def pull(self, vu: VirtualUser) -> tuple[float, int | str]:
        params = {"cursor": vu.cursor, "limit": PULL_LIMIT}
        latency, status, response = await self.request(vu, "GET", f"{API}/sync/pull", params=params)
        if response is not None and status == 200:
            vu.cursor = max(vu.cursor, response.page_summary()[0])
        return latency, status

    async def push(self, vu: VirtualUser) -> tuple[float, int | str]:
        body = {"client_id": vu.client_id, "mutations": [vu.envelope()]}
        latency, status, response = await self.request(vu, "POST", f"{API}/sync/push", json_body=body)
        if status == 409 and response is not None:
            # Out of step (a push that timed out here but landed there): continue where the server is.
            detail = response.json().get("detail") or {}
            if "expected" in detail:
                vu.seq = int(detail["expected"]) - 1
            vu.pending = None
        elif isinstance(status, int) and status < 500:
            vu.pending = None
        # Transport errors and 5xx keep the envelope: it is re-sent (same mutation_id) next time.
        return latency, status

    async def reference(self, vu: VirtualUser) -> tuple[float, int | str]:
        params = {"q": random.choice(self.prefixes), "limit": 20}
        latency, status, _ = await self.request(vu, "GET", f"{API}/reference/drug", params=params)
        return latency, status

    # -- ramp -------------------------------------------------------------------------------------

    async def ramp(self) -> list[Sample]:
        """Log every VU in (bounded concurrency) and bring its cursor to the head; not part of the figures."""
        samples: list[Sample] = []
        gate = asyncio.Semaphore(self.spec.login_concurrency)

        async def log_in(vu: VirtualUser) -> None:
            async with gate:
                body = {"username": vu.username, "password": DEMO_PASSWORD, "device_id": vu.device_id}
                for _attempt in range(5):
                    started = time.time()
                    latency, status, response = await self.request(
                        vu, "POST", f"{API}/auth/login", json_body=body
                    )
                    samples.append(("login", started, latency, status))
                    if response is not None and status == 200:
                        vu.token = response.json()["token"]
                        vu.headers = {"Authorization": f"Bearer {vu.token}"}
                        break
                else:
                    raise RuntimeError(f"{vu.username} could not log in: last status {status}")
                while True:
                    started = time.time()
                    params = {"cursor": vu.cursor, "limit": 2000}
                    latency, status, response = await self.request(
                        vu, "GET", f"{API}/sync/pull", params=params
                    )
                    samples.append(("pull_all", started, latency, status))
                    if response is None or status != 200:
                        raise RuntimeError(f"pull_all for {vu.username} failed: {status}")
                    page = response.json()
                    vu.cursor = int(page["next_cursor"])
                    if not page["has_more"]:
                        break

        if self.spec.start_at_head and self.vus:
            # The VUs stand for PCs that are already in sync: their cursors start at the feed head.
            head = int((await self.vus[0].client.request("GET", "/healthz")).json()["head"])
            for vu in self.vus:
                vu.cursor = head
        await asyncio.gather(*(log_in(vu) for vu in self.vus))
        if self.vus:
            _, status, response = await self.request(
                self.vus[0], "GET", f"{API}/reference/drug", params={"limit": 500}
            )
            if response is not None and status == 200:
                found = sorted(
                    {d["pinyin"][:2].lower() for d in response.json() if len(d.get("pinyin", "")) >= 2}
                )
                self.prefixes = found or FALLBACK_PREFIXES
        return samples

    # -- scenario (a) -----------------------------------------------------------------------------

    def active(self, users: int) -> list[VirtualUser]:
        return [vu for vu in self.vus if vu.index < users]

    def open_longpolls(self, users: int) -> None:
        self.longpoll_stop = False
        self.longpoll_window = (0.0, 0.0)
        self.longpoll_stats = LongPollStats()
        self.longpolls = [asyncio.create_task(self.hold_longpoll(vu)) for vu in self.active(users)]

    async def hold_longpoll(self, vu: VirtualUser) -> None:
        """Keep one long-poll open for this VU, re-opening it as soon as it returns."""
        cursor = vu.cursor
        stats = self.longpoll_stats
        while not self.longpoll_stop:
            cursor = max(cursor, vu.cursor)
            params = {"cursor": cursor, "limit": PULL_LIMIT, "wait": LONGPOLL_WAIT}
            started = time.time()
            _, status, response = await self.request(
                vu, "GET", f"{API}/sync/pull", params=params, timeout=LONGPOLL_WAIT + 30
            )
            counted = self.longpoll_window[0] <= started < self.longpoll_window[1]
            if response is not None and status == 200:
                cursor, changed = response.page_summary()
                vu.cursor = max(vu.cursor, cursor)
                if counted:
                    if changed:
                        stats.returned_with_changes += 1
                    else:
                        stats.returned_empty += 1
            else:
                if counted:
                    stats.errors += 1
                    stats.error_kinds[str(status)] = stats.error_kinds.get(str(status), 0) + 1
                await asyncio.sleep(1.0)  # do not hammer a failing server
            if self.spec.longpoll_gap:
                await asyncio.sleep(self.spec.longpoll_gap)

    async def join_longpolls(self) -> LongPollStats:
        done, pending = (
            await asyncio.wait(self.longpolls, timeout=LONGPOLL_WAIT + 35) if self.longpolls else ((), ())
        )
        for task in pending:
            task.cancel()
        self.longpolls = []
        return self.longpoll_stats

    async def run_loop(
        self, users: int, start_at: float, warmup: float, duration: float, think: float
    ) -> dict[str, Any]:
        """Each active VU loops pull / push / reference with ``think`` (±50 %) seconds between requests."""
        measure_from = start_at + warmup
        measure_to = measure_from + duration
        self.longpoll_window = (measure_from, measure_to)
        samples: list[Sample] = []
        operations = (self.pull, self.push, self.reference)
        names = ("pull", "push", "reference")

        async def virtual_user(vu: VirtualUser) -> None:
            await _sleep_until(start_at + random.uniform(0, 2 * think))
            step = vu.index
            while time.time() < measure_to:
                kind = step % 3
                step += 1
                started = time.time()
                latency, status = await operations[kind](vu)
                if measure_from <= started < measure_to:
                    samples.append((names[kind], started, latency, status))
                await asyncio.sleep(think * random.uniform(0.5, 1.5))

        cpu: dict[str, float] = {}

        async def meter() -> None:
            await _sleep_until(measure_from)
            cpu["start"] = time.process_time()
            await _sleep_until(measure_to)
            cpu["end"] = time.process_time()

        retries = self.retries
        await asyncio.gather(meter(), *(virtual_user(vu) for vu in self.active(users)))
        return {
            "samples": samples,
            "cpu_seconds": cpu["end"] - cpu["start"],
            "retries": self.retries - retries,
        }

    # -- scenario (b) -----------------------------------------------------------------------------

    async def burst(self, users: int, fire_at: float) -> dict[str, Any]:
        """At ``fire_at`` every active VU sends one pull, one push and one reference read at once."""
        await _sleep_until(fire_at)
        cpu_start = time.process_time()
        started = time.time()
        retries = self.retries

        async def timed(name: str, operation: Callable[[VirtualUser], Any], vu: VirtualUser) -> Sample:
            latency, status = await operation(vu)
            return (name, started, latency, status)

        tasks = []
        for vu in self.active(users):
            tasks += [
                timed("pull", self.pull, vu),
                timed("push", self.push, vu),
                timed("reference", self.reference, vu),
            ]
        samples = list(await asyncio.gather(*tasks))
        return {
            "samples": samples,
            "cpu_seconds": time.process_time() - cpu_start,
            "ended": time.time(),
            "retries": self.retries - retries,
        }


# ---------------------------------------------------------------------------------------------------
# Server side: spawning, process discovery and the resource probe


def _sync_url_to_libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class SpawnedServer:
    """A fresh demo database in a temporary directory (or a fresh PostgreSQL database) and a server on it."""

    def __init__(
        self, backend: str, *, port: int, workers: int, pg_url: str, pg_database: str, keep: bool
    ) -> None:
        self.backend = backend
        self.port = port
        self.workers = workers
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="clinic-apiload-"))
        self.log_path = self.tmp / "server.log"
        self.pg_admin = _sync_url_to_libpq(pg_url)
        if backend == "sqlite":
            self.db_url = f"sqlite:///{self.tmp / 'clinic.db'}"
        else:
            self.pg_database = pg_database
            self.db_url = pg_url.rsplit("/", 1)[0] + f"/{pg_database}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _clinic(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "shared.cli", *args]

    def start(self) -> None:
        if self.backend == "postgres":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.pg_database}"')
        print(f"seeding demo data into {self.db_url} …", flush=True)
        seeded = subprocess.run(
            self._clinic("seed-demo", "--db", self.db_url), capture_output=True, text=True
        )
        if seeded.returncode != 0:
            raise RuntimeError(f"seed-demo failed:\n{seeded.stdout[-1500:]}{seeded.stderr[-3000:]}")
        log = self.log_path.open("ab")
        command = self._clinic(
            "server",
            "--db",
            self.db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        )
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("server did not become healthy within 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tracebacks(self) -> list[str]:
        if not self.log_path.exists():
            return []
        text = self.log_path.read_text(errors="replace")
        records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)  # one log record each
        return [record for record in records if "Traceback" in record]

    def cleanup(self) -> None:
        if self.keep:
            print(f"kept {self.tmp} (server log: {self.log_path})")
            return
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.backend == "postgres":
            import psycopg

            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')


def _socket_inodes(port: int, state: str) -> set[str]:
    """Inodes of TCP sockets on local ``port`` in ``state`` (0A listen, 01 established)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == state:
                    inodes.add(parts[9])
    return inodes


def _established(port: int) -> int:
    return len(_socket_inodes(port, "01"))


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
    return found


def _server_pids(port: int, root: int | None) -> list[int]:
    """The server's processes: ``root`` and its descendants, else whoever holds the listening socket."""
    if root is not None:
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += _children(pid)
        return pids
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(port, "0A")}
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if any(
                    os.readlink(f"/proc/{entry}/fd/{fd}") in wanted for fd in os.listdir(f"/proc/{entry}/fd")
                ):
                    pids.append(int(entry))
    return pids


def _threads(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return 0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs together since boot."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values[:8]) - idle, sum(values[:8])


@dataclass
class CpuMeter:
    """CPU use over a window: the server's, the whole machine's, and so what other processes took."""

    probe: ServerProbe
    server: int = 0
    database: int = 0
    busy: int = 0
    total: int = 0
    _marks: tuple[int, int, int, int] = (0, 0, 0, 0)

    def _database_ticks(self) -> int:
        # PostgreSQL backends (of the whole cluster; short-lived ones that exit are not counted).
        return _postgres_ticks() if self.probe.pg is not None else 0

    def start(self) -> None:
        self._marks = (self.probe.cpu_ticks(), self._database_ticks(), *_machine_ticks())

    def stop(self) -> None:
        busy, total = _machine_ticks()
        self.server += self.probe.cpu_ticks() - self._marks[0]
        self.database += max(0, self._database_ticks() - self._marks[1])
        self.busy += busy - self._marks[2]
        self.total += total - self._marks[3]

    def describe(self, generator_seconds: float) -> str:
        if not self.total:
            return "CPU: not measured"
        cores = os.cpu_count() or 1
        seconds = self.total / os.sysconf("SC_CLK_TCK") / cores
        server = self.server / os.sysconf("SC_CLK_TCK") / seconds
        generators = generator_seconds / seconds
        database = self.database / os.sysconf("SC_CLK_TCK") / seconds
        machine = self.busy / self.total * cores
        other = max(0.0, machine - server - generators - database)
        postgres = f" + PostgreSQL {database:.2f}" if self.probe.pg is not None else ""
        return (
            f"CPU (cores busy of {cores}): machine {machine:.2f} = server {server:.2f}{postgres} + generators "
            f"{generators:.2f} + other processes {other:.2f}"
        )


def _postgres_ticks() -> int:
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as fh:
                if fh.read().strip() == "postgres":
                    total += _cpu_ticks(int(entry))
    return total


def _sqlite_fds(pid: int, db_path: str) -> int:
    count = 0
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == db_path:
                    count += 1
    return count


@dataclass
class ProbeReading:
    threads: int
    db_connections: int
    db_busy: int
    sockets: int


class ServerProbe:
    """Reads the server's thread count, its database connections and its open client sockets."""

    def __init__(self, port: int, db_url: str | None, root_pid: int | None) -> None:
        self.port = port
        self.root_pid = root_pid
        self.pids = _server_pids(port, root_pid)
        self.db_path: str | None = None
        self.pg: Any = None
        self.pg_database = ""
        if db_url and "://" not in db_url:
            self.db_path = os.path.realpath(db_url)  # a plain SQLite file path, as `clinic --db` takes
        elif db_url and db_url.startswith("sqlite"):
            self.db_path = os.path.realpath(db_url.split("///", 1)[1])
        elif db_url:
            import psycopg

            self.pg = psycopg.connect(_sync_url_to_libpq(db_url), autocommit=True)
            self.pg_database = db_url.rsplit("/", 1)[1].split("?")[0]

    def read(self) -> ProbeReading:
        self.pids = _server_pids(self.port, self.root_pid) or self.pids
        threads = sum(_threads(pid) for pid in self.pids)
        connections = busy = -1
        if self.db_path:
            connections = sum(_sqlite_fds(pid, self.db_path) for pid in self.pids)
        elif self.pg is not None:
            rows = self.pg.execute(
                "SELECT state, count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                "GROUP BY state",
                (self.pg_database,),
            ).fetchall()
            connections = sum(n for _, n in rows)
            busy = sum(n for state, n in rows if state != "idle")
        return ProbeReading(threads, connections, busy, _established(self.port))

    def cpu_ticks(self) -> int:
        return sum(_cpu_ticks(pid) for pid in self.pids)

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


class ProbeSampler:
    """Samples the probe in a thread while a scenario runs; keeps the maxima."""

    def __init__(self, probe: ServerProbe, interval: float = 0.5) -> None:
        self.probe = probe
        self.interval = interval
        self.max = ProbeReading(0, 0, 0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            r = self.probe.read()
            self.max = ProbeReading(
                max(self.max.threads, r.threads),
                max(self.max.db_connections, r.db_connections),
                max(self.max.db_busy, r.db_busy),
                max(self.max.sockets, r.sockets),
            )

    @contextlib.contextmanager
    def running(self) -> Iterator[ProbeSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


# ---------------------------------------------------------------------------------------------------
# Statistics and printing


def _pct(ordered: list[float], q: float) -> float:
    return (
        ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] if ordered else float("nan")
    )


@dataclass
class EndpointStats:
    name: str
    count: int
    errors: int
    rps: float
    p50: float
    p95: float
    p99: float
    max: float
    error_kinds: dict[str, int]


def _ok(status: int | str) -> bool:
    return isinstance(status, int) and status < 400


def summarize(samples: list[Sample], seconds: float, names: tuple[str, ...]) -> list[EndpointStats]:
    rows = []
    for name in (*names, "all"):
        chosen = [s for s in samples if name == "all" or s[0] == name]
        ordered = sorted(s[2] * 1000 for s in chosen)
        kinds: dict[str, int] = {}
        for s in chosen:
            if not _ok(s[3]):
                kinds[str(s[3])] = kinds.get(str(s[3]), 0) + 1
        rows.append(
            EndpointStats(
                name=name,
                count=len(chosen),
                errors=sum(kinds.values()),
                rps=len(chosen) / seconds if seconds > 0 else float("nan"),
                p50=_pct(ordered, 0.50),
                p95=_pct(ordered, 0.95),
                p99=_pct(ordered, 0.99),
                max=ordered[-1] if ordered else float("nan"),
                error_kinds=kinds,
            )
        )
    return rows


def print_table(rows: list[EndpointStats]) -> None:
    print(
        f"  {'endpoint':<10}{'requests':>9}{'errors':>8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for r in rows:
        print(
            f"  {r.name:<10}{r.count:>9}{r.errors:>8}{r.rps:>8.1f}{r.p50:>9.1f}{r.p95:>9.1f}{r.p99:>9.1f}{r.max:>9.1f}"
            + (f"   errors: {r.error_kinds}" if r.error_kinds else "")
        )


@dataclass
class ScenarioResult:
    backend: str
    scenario: str
    users: int
    seconds: float
    rows: list[EndpointStats]
    verdict: str
    notes: list[str]


def _verdict(scenario: str, users: int, all_row: EndpointStats) -> str:
    tender = 1000.0 if users <= 500 else 1500.0
    tender_ok = all_row.p95 < tender and all_row.errors == 0
    parts = [f"tender p95<{tender:.0f} ms: {'met' if tender_ok else 'MISSED'}"]
    if scenario == "a":
        parts.append(f"target p99<200 ms: {'met' if all_row.p99 < 200 and all_row.errors == 0 else 'MISSED'}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Orchestration


class Fleet:
    """The generator processes and the commands that drive them in step."""

    def __init__(self, specs: list[WorkerSpec]) -> None:
        ctx = mp.get_context("spawn")
        self.server_url = specs[0].server_url
        self.results: mp.Queue[Any] = ctx.Queue()
        self.commands: list[mp.Queue[Any]] = [ctx.Queue() for _ in specs]
        self.procs = [
            ctx.Process(target=_worker_entry, args=(i, spec, self.commands[i], self.results), daemon=True)
            for i, spec in enumerate(specs)
        ]

    def start(self) -> None:
        for proc in self.procs:
            proc.start()

    def send(self, *command: Any, only: int | None = None) -> None:
        for i, q in enumerate(self.commands):
            if only is None or i == only:
                q.put(command)

    def collect(self, kind: str, timeout: float, count: int | None = None) -> list[Any]:
        wanted = len(self.procs) if count is None else count
        answers: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        while len(answers) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"generators did not finish '{kind}' within {timeout:.0f} s")
            try:
                got, worker, payload = self.results.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if any(not p.is_alive() for p in self.procs):
                    raise RuntimeError("a generator process died") from None
                continue
            if got == "failed":
                raise RuntimeError(f"generator {worker} failed:\n{payload}")
            if got != kind:
                raise RuntimeError(f"expected '{kind}' from generator {worker}, got '{got}'")
            answers[worker] = payload
        return [answers[i] for i in sorted(answers)]

    def stop(self) -> None:
        for q in self.commands:
            q.put(("stop",))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


def _describe_reading(r: ProbeReading, backend: str) -> str:
    db = (
        f"{r.db_connections} open SQLite connections"
        if backend == "sqlite"
        else (f"{r.db_connections} PostgreSQL connections ({r.db_busy} not idle)")
    )
    return f"{r.threads} threads, {db}, {r.sockets} client sockets"


def _settle(probe: ServerProbe, users: int, *, limit: float) -> float:
    """Wait until all long-polls are connected and the server has gone quiet (their first reads done)."""
    started = time.monotonic()
    hz = os.sysconf("SC_CLK_TCK")
    calm = 0
    while time.monotonic() - started < limit and calm < 2:
        ticks = probe.cpu_ticks()
        time.sleep(1.0)
        quiet = (probe.cpu_ticks() - ticks) / hz < 0.15 and probe.read().db_busy <= 1
        calm = calm + 1 if quiet and _established(probe.port) >= users else 0
    return time.monotonic() - started


def run_scenario_a(
    fleet: Fleet, probe: ServerProbe, backend: str, users: int, args: argparse.Namespace
) -> ScenarioResult:
    notes = []
    before = probe.read()
    fleet.send("open_longpolls", users)
    fleet.collect("open_longpolls", 60)
    settled = _settle(probe, users, limit=90.0)
    idle = []
    for _ in range(3):
        idle.append(probe.read())
        time.sleep(0.3)
    held = max(idle, key=lambda r: (r.sockets, r.threads))
    notes.append(f"before long-polls: {_describe_reading(before, backend)}")
    notes.append(f"long-polls settled into their wait after {settled:.0f} s")
    # A database read while every long-poll waits: it would stall on the pool if the waits held connections.
    started = time.perf_counter()
    health = httpx.get(f"{fleet.server_url}/healthz", timeout=30)
    health_ms = (time.perf_counter() - started) * 1000
    notes.append(
        f"{users} idle long-polls open: {_describe_reading(held, backend)}; "
        f"/healthz (a DB read) answered {health.status_code} in {health_ms:.0f} ms meanwhile"
    )
    sampler = ProbeSampler(probe)
    start_at = time.time() + 1.0
    measure = (start_at + args.warmup, start_at + args.warmup + args.duration)
    fleet.send("loop", users, start_at, args.warmup, args.duration, args.think)
    with sampler.running():
        meter = CpuMeter(probe)
        time.sleep(max(0.0, measure[0] - time.time()))
        meter.start()
        time.sleep(max(0.0, measure[1] - time.time()))
        meter.stop()
        answers = fleet.collect("loop", args.duration + args.warmup + 120)
    fleet.send("stop_longpolls")
    fleet.collect("stop_longpolls", 30)
    fleet.send("wake", only=0)
    fleet.collect("wake", 60, count=1)
    fleet.send("join_longpolls")
    stats = LongPollStats()
    for s in fleet.collect("join_longpolls", LONGPOLL_WAIT + 60):
        stats.add(s)
    samples = [s for a in answers for s in a["samples"]]
    rows = summarize(samples, args.duration, ("pull", "push", "reference"))
    gen_cpu = sum(a["cpu_seconds"] for a in answers)
    retries = sum(a["retries"] for a in answers)
    notes.append(f"max during the run: {_describe_reading(sampler.max, backend)}")
    notes.append(
        f"long-polls returned {stats.returned_with_changes / args.duration:.1f}/s with changes, "
        f"{stats.returned_empty} empty (timed out), {stats.errors} errors {stats.error_kinds or ''}".rstrip()
    )
    notes.append(meter.describe(gen_cpu))
    notes.append(f"requests retried once after the server closed a kept-alive connection: {retries}")
    return ScenarioResult(backend, "a", users, args.duration, rows, _verdict("a", users, rows[-1]), notes)


def run_scenario_b(
    fleet: Fleet, probe: ServerProbe, backend: str, users: int, args: argparse.Namespace
) -> ScenarioResult:
    samples: list[Sample] = []
    makespans = []
    gen_cpu = 0.0
    retries = 0
    sampler = ProbeSampler(probe, interval=0.2)
    meter = CpuMeter(probe)
    with sampler.running():
        for round_no in range(args.rounds + 1):  # round 0 warms the connection pools and is not counted
            fire_at = time.time() + 1.0
            fleet.send("burst", users, fire_at)
            time.sleep(max(0.0, fire_at - time.time()))
            if round_no:
                meter.start()
            answers = fleet.collect("burst", 180)
            if round_no == 0:
                continue
            meter.stop()
            makespans.append(max(a["ended"] for a in answers) - fire_at)
            gen_cpu += sum(a["cpu_seconds"] for a in answers)
            retries += sum(a["retries"] for a in answers)
            samples += [s for a in answers for s in a["samples"]]
    busy = sum(makespans)
    rows = summarize(samples, busy, ("pull", "push", "reference"))
    notes = [
        f"{args.rounds} rounds of {users} x (pull + push + reference) fired at once; "
        "round makespans "
        + ", ".join(f"{m:.2f}" for m in makespans)
        + " s (req/s = requests / summed makespan)",
        f"max during the bursts: {_describe_reading(sampler.max, backend)}",
        meter.describe(gen_cpu),
        f"requests retried once after the server closed a kept-alive connection: {retries}",
    ]
    return ScenarioResult(backend, "b", users, busy, rows, _verdict("b", users, rows[-1]), notes)


def _loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def _machine() -> str:
    return describe()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server-url", help="a running server on this machine, e.g. http://127.0.0.1:8750")
    where.add_argument(
        "--spawn", choices=("sqlite", "postgres"), help="seed a fresh database and start a server"
    )
    parser.add_argument(
        "--users", type=int, nargs="+", default=[500], help="virtual users (several: run each)"
    )
    parser.add_argument(
        "--scenario", choices=("a", "b"), nargs="+", default=["a"], help="a: think time; b: bursts"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds of scenario a")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds before scenario a")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time between requests (s)")
    parser.add_argument("--rounds", type=int, default=5, help="measured bursts of scenario b")
    parser.add_argument(
        "--processes", type=int, default=0, help="generator processes (default: 1 per 400 VUs)"
    )
    parser.add_argument(
        "--longpoll-gap",
        type=float,
        default=0.0,
        help="seconds a VU waits after a long-poll returns before re-opening it (default 0: at once)",
    )
    parser.add_argument("--login-concurrency", type=int, default=4, help="concurrent logins per process")
    parser.add_argument(
        "--start-cursor",
        choices=("head", "zero"),
        default="head",
        help="where each VU's pull_all starts: the feed head (a PC already in sync) or 0 (a full pull)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout (s)")
    parser.add_argument("--db", help="without --spawn: the server's database URL, to count its connections")
    parser.add_argument(
        "--server-pid", type=int, help="without --spawn: the server's pid (else found by port)"
    )
    parser.add_argument("--workers", type=int, default=1, help="with --spawn: server worker processes")
    parser.add_argument("--port", type=int, default=8750, help="with --spawn: the server's port")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="with --spawn postgres: an admin URL")
    parser.add_argument(
        "--pg-database", default="clinic_bench", help="with --spawn postgres: database to (re)create"
    )
    parser.add_argument(
        "--keep", action="store_true", help="with --spawn: keep the temporary directory and log"
    )
    args = parser.parse_args(argv)
    if args.server_url and (urlsplit(args.server_url).hostname or "") not in LOOPBACK:
        parser.error("only a server on this machine (loopback address) may be loaded")
    if not 1 <= max(args.users) <= 2000:
        parser.error("--users must be between 1 and 2000")
    if not 1 <= args.duration <= 600 or not 1 <= args.rounds <= 20:
        parser.error("--duration must be 1–600 s and --rounds 1–20")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    users_max = max(args.users)
    processes = args.processes or max(1, math.ceil(users_max / 400))
    server: SpawnedServer | None = None
    if args.spawn:
        server = SpawnedServer(
            args.spawn,
            port=args.port,
            workers=args.workers,
            pg_url=args.pg_url,
            pg_database=args.pg_database,
            keep=args.keep,
        )
    url = server.url if server else args.server_url.rstrip("/")
    port = urlsplit(url).port or 80
    fleet: Fleet | None = None
    probe: ServerProbe | None = None
    results: list[ScenarioResult] = []
    tracebacks: list[str] = []
    try:
        if server:
            server.start()
        backend = server.backend if server else httpx.get(f"{url}/healthz", timeout=5).json()["database"]
        backend = "postgres" if backend.startswith("postgres") else backend
        probe = ServerProbe(
            port, server.db_url if server else args.db, server.proc.pid if server and server.proc else None
        )
        workers = f"{args.workers}" if server else "as started"
        print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {_machine()}")
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(
            f"think {args.think} s ±50 %, long-poll wait {LONGPOLL_WAIT} s, re-opened after "
            f"{args.longpoll_gap} s; pull limit {PULL_LIMIT}; request timeout {args.timeout} s"
        )
        print(
            f"server {url} ({backend}, server workers: {workers}); {processes} generator process(es); {users_max} VUs"
        )
        print(f"at start: {_describe_reading(probe.read(), backend)}; load average {_loadavg()}")
        run_tag = uuid.uuid4().hex[:6]
        specs = [
            WorkerSpec(
                url,
                tuple(range(i, users_max, processes)),
                run_tag,
                args.login_concurrency,
                args.timeout,
                args.start_cursor == "head",
                args.longpoll_gap,
            )
            for i in range(processes)
        ]
        fleet = Fleet(specs)
        ramp_started = time.time()
        fleet.start()
        ramp = [s for answer in fleet.collect("ready", 900) for s in answer]
        ramp_seconds = time.time() - ramp_started
        print(
            f"\nramp: {users_max} VUs logged in and pulled to the head in {ramp_seconds:.0f} s (not in the figures)"
        )
        print_table(summarize(ramp, ramp_seconds, ("login", "pull_all"))[:2])
        for scenario in args.scenario:
            for users in args.users:
                runner = run_scenario_a if scenario == "a" else run_scenario_b
                result = runner(fleet, probe, backend, users, args)
                results.append(result)
                print(
                    f"\nscenario {scenario} · {users} VUs · {backend} · server workers {workers} · {processes} generator process(es)"
                )
                print_table(result.rows)
                for note in [result.verdict, *result.notes]:
                    print(f"  {note}")
                time.sleep(2.0)
    finally:
        if fleet:
            fleet.stop()
        if probe:
            probe.close()
        if server:
            server.stop()
            tracebacks = server.tracebacks()
            server.cleanup()
    if tracebacks:
        print(f"\nserver log has {len(tracebacks)} traceback(s); the first:\n{tracebacks[0][-3000:]}")
    if results:
        print("\nsummary (ms; all = pull + push + reference)")
        print(
            f"  {'db':<9}{'scen.':<6}{'VUs':>5}{'req/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'errors':>8}  verdict"
        )
        for r in results:
            a = r.rows[-1]
            print(
                f"  {r.backend:<9}{r.scenario:<6}{r.users:>5}{a.rps:>8.1f}{a.p50:>8.1f}{a.p95:>8.1f}{a.p99:>8.1f}{a.errors:>8}  {r.verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
