"""The hub's relay upstream alone: a clinic day's backlog pushed to the central API after the link returns
(issue 15, "after the link returns, everything applied upstream within 2 minutes").

The backlog is a real one: ``hub_day.py`` run with ``HUB_DAY_SNAPSHOT=FOLDER`` keeps copies of the central
API's and the hub's databases at the end of the day (link still cut, the hub's log full of the PCs'
registrations, queue events, prescriptions created, signed, reviewed and dispensed) and the hub's
credential. This script starts a central API on a copy of that central database and a clinic hub on a
copy of that hub database, upstream reachable, and measures how long the hub takes to relay its backlog
(every rule re-run at the central API), with no PCs competing for the CPU:

    HUB_DAY_SNAPSHOT=/tmp/day PYTHONPATH=. .venv/bin/python benchmarks/hub_day.py [--small]
    PYTHONPATH=. .venv/bin/python benchmarks/relay_throughput.py /tmp/day [--profile]

``--profile``: the central API runs in this script's child process under a sampling profiler (every
thread's stack every 5 ms); where its threads spent their time is printed at the end (inclusive and own
samples per function, for the writer thread and the event loop).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


class Sampler:
    """Samples every thread's Python stack at an interval; counts inclusive and own samples per
    function, per thread kind (the name up to its first '_' or '-' and digits)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.own: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.samples: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    @staticmethod
    def _kind(name: str) -> str:
        return name.rstrip("0123456789").rstrip("_-")

    def _loop(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():  # noqa: SLF001 - the profiler's data
                if ident == me:
                    continue
                top = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_code.co_name}"
                if frame.f_code.co_name in ("wait", "select", "_worker", "poll") and "threading" in (
                    frame.f_code.co_filename + top
                ):
                    continue
                if top.startswith(("selectors.py", "threading.py", "thread.py", "queue.py")):
                    continue  # idle: waiting for work
                kind = self._kind(names.get(ident, "?"))
                self.samples[kind] += 1
                self.own[kind][top] += 1
                seen: set[str] = set()
                while frame is not None:
                    code = frame.f_code
                    key = f"{code.co_filename.rsplit('/', 2)[-1]}:{code.co_name}"
                    if key not in seen:
                        seen.add(key)
                        self.inclusive[kind][key] += 1
                    frame = frame.f_back  # type: ignore[assignment]

    def report(self, top: int = 30) -> str:
        lines = []
        for kind, count in self.samples.most_common(4):
            lines.append(f"== thread {kind}: {count} busy samples ({count * self.interval:.1f} s)")
            lines.append("   inclusive:")
            for key, n in self.inclusive[kind].most_common(top):
                lines.append(f"   {100 * n / count:5.1f}%  {key}")
            lines.append("   own:")
            for key, n in self.own[kind].most_common(15):
                lines.append(f"   {100 * n / count:5.1f}%  {key}")
        return "\n".join(lines)


def serve_central(db_url: str, port: int, report: Path) -> None:
    """The central API in this process (as ``clinic server`` runs it), sampled until SIGINT."""
    import uvicorn

    os.environ["CLINIC_DATABASE_URL"] = db_url
    sampler = Sampler()
    sampler.start()
    config = uvicorn.Config(
        "server_stub.app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        pass
    finally:
        sampler.stop()
        report.write_text(sampler.report())


class ProfiledCentral:
    """``serve_central`` in a child process, with the ``ServerProcess`` interface the script needs."""

    def __init__(self, db_url: str, folder: Path) -> None:
        from tests.support.server import free_port

        self.db_url = db_url
        self.port = free_port()
        self.report = folder / "central.profile.txt"
        self.log = folder / "central.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProfiledCentral:
        import httpx

        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-central", self.db_url, str(self.port), str(self.report)],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(self.log.read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads) so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relayed_span(central_db: Path, since: str) -> tuple[int, float]:
    """(mutations the central API logged after ``since``, seconds from the first to the last)."""
    with contextlib.closing(sqlite3.connect(central_db)) as db:
        row = db.execute(
            "SELECT count(*), min(received_at), max(received_at) FROM mutation_log WHERE received_at > ?",
            (since,),
        ).fetchone()
    if not row[0]:
        return 0, 0.0
    import datetime as dt

    first, last = (dt.datetime.fromisoformat(str(v)) for v in row[1:])
    return int(row[0]), (last - first).total_seconds()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-central":
        serve_central(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot", type=Path, help="a folder written by hub_day.py with HUB_DAY_SNAPSHOT")
    parser.add_argument("--profile", action="store_true", help="sample the central API's threads")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()

    import datetime as dt

    from machine import describe

    from server_stub.config import sqlite_url
    from tests.support.hub import HubProcess
    from tests.support.server import ServerProcess

    folder = Path(tempfile.mkdtemp(prefix="relay-throughput-"))
    for name in ("central.db", "hub.db", "central.db.audit-key"):
        if (args.snapshot / name).exists():
            shutil.copy(args.snapshot / name, folder / name)
    credential = (args.snapshot / "credential.txt").read_text().strip()
    with contextlib.closing(sqlite3.connect(folder / "hub.db")) as db:
        backlog = db.execute("SELECT count(*) FROM lan_log WHERE status = 'pending'").fetchone()[0]
        names = dict(
            db.execute("SELECT name, count(*) FROM lan_log WHERE status = 'pending' GROUP BY name").fetchall()
        )
    print(f"machine: {describe()}")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"folder: {folder}")
    print(f"backlog: {backlog} mutations: {', '.join(f'{n} {k}' for k, n in sorted(names.items()))}")
    since = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")  # as SQLite holds them
    central: Any
    if args.profile:
        central = ProfiledCentral(sqlite_url(folder / "central.db"), folder).start()
    else:
        central = ServerProcess(sqlite_url(folder / "central.db"), folder / "central.log").start(timeout=120)
    hub = HubProcess(central.url, folder / "hub.db", folder / "hub.log", credential=credential)
    try:
        started = time.perf_counter()
        hub.start(timeout=60)
        drained = None
        left = backlog
        while time.perf_counter() - started < args.timeout:
            left = int(hub.health()["hub"]["backlog"])  # type: ignore[index]
            if left == 0:
                drained = time.perf_counter() - started
                break
            time.sleep(0.2)
        assert hub.proc is not None
        cpu = {"central": cpu_seconds(central.proc.pid), "hub": cpu_seconds(hub.proc.pid)}
        print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        hub.stop()
        central.stop()
    count, span = relayed_span(folder / "central.db", since)
    if drained is None:
        print(f"backlog NOT drained within {args.timeout:.0f} s ({left} left)")
    else:
        print(f"hub start -> backlog 0: {drained:.1f} s ({backlog / drained:.0f} mutations/s)")
    if span:
        print(f"central API: {count} mutations logged, first to last {span:.1f} s ({count / span:.0f}/s)")
    print(
        f"CPU time (start-up included): central API {cpu['central']:.1f} s, hub {cpu['hub']:.1f} s "
        f"({1000 * cpu['central'] / max(1, backlog):.1f} / {1000 * cpu['hub'] / max(1, backlog):.1f} ms a mutation)"
    )
    if args.profile:
        print(central.report.read_text())
    with contextlib.closing(sqlite3.connect(folder / "hub.db")) as db:
        outcomes = dict(db.execute("SELECT status, count(*) FROM lan_log GROUP BY status").fetchall())
    print(f"hub log by status: {outcomes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
