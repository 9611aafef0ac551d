"""Shared fixtures: seeded SQLite databases, a real server process on loopback, PostgreSQL when present."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_stub.config import sqlite_url
from server_stub.seed.demo import seed_demo
from tests.support.server import ServerProcess
from tests.support.workers import made_once, worker_name

# The tests' processes run in the hospital's zone (Asia/Shanghai, the central API's default
# ``CLINIC_TIMEZONE``), whatever the machine's: the PCs take the hospital's zone from the server at login
# (``shared.clinic_time``), but tests that build dates in-process (demo rows, expected texts) and the
# servers' own messages read the process's zone. tests/test_clinic_zone.py runs PCs in UTC against a
# hospital on another date.
os.environ["TZ"] = "Asia/Shanghai"
time.tzset()

SMALL_DEMO_PATIENTS = 60
QT_WAIT_MS = 20_000  # the default of every qtbot wait; see generous_qt_waits


def generous_qt_waits() -> None:
    """pytest-qt waits 5 s by default and many tests ask for 2-5 s; on a busy machine (load 8 on 2 cores)
    a worker's answer can take longer and a correct test failed. Every wait gets at least ``QT_WAIT_MS``:
    a wait is a ceiling, a passing wait still returns the moment its condition holds, so only a real
    failure takes longer to report (no test here expects a wait to time out)."""
    try:
        from pytestqt.qtbot import QtBot
    except ImportError:  # no Qt here: nothing to wait for
        return
    import functools
    import inspect

    for name in ("waitUntil", "waitSignal", "waitSignals", "waitExposed", "waitActive", "waitCallback"):
        method = getattr(QtBot, name, None)
        if method is None or getattr(method, "_generous", False):
            continue
        if "timeout" not in inspect.signature(method).parameters:
            continue

        def make(original):  # type: ignore[no-untyped-def]
            @functools.wraps(original)
            def wait(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                given = kwargs.get("timeout", QT_WAIT_MS)
                kwargs["timeout"] = None if given is None else max(given, QT_WAIT_MS)
                return original(self, *args, **kwargs)

            wait._generous = True  # type: ignore[attr-defined]
            return wait

        setattr(QtBot, name, make(method))


generous_qt_waits()


def cache_subprocess_bytecode() -> None:
    """The suite starts a few hundred Python processes (servers, hubs, ``clinic`` commands); with
    ``PYTHONDONTWRITEBYTECODE`` set (CI sets it) each one compiled all of ``shared`` and ``server_stub``
    again, ~0.4 s of CPU per process. Child processes write their compiled modules as Python does by
    default (``__pycache__``, ignored by git; the installed packages have theirs already), so only the
    first one compiles them; a changed source file is compiled again as usual."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


cache_subprocess_bytecode()


@pytest.fixture(scope="session", autouse=True)
def token_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests that keep logins in a token file (PCs without a keyring) get the key file it needs, kept in
    a folder of its own (``shared.sync.tokens``)."""
    path = tmp_path_factory.mktemp("token-key") / "token.key"
    os.environ.setdefault("CLINIC_TOKEN_KEY_FILE", str(path))
    return path


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded demo database made once per test run (once for all workers); tests get copies of it."""
    folder = made_once(
        tmp_path_factory,
        "template",
        lambda f: seed_demo(sqlite_url(f / "demo.db"), patients=SMALL_DEMO_PATIENTS),
    )
    return folder / "demo.db"


def copy_sqlite(source: Path, target: Path) -> Path:
    """Copy a database with SQLite's online backup API (never a file copy of a live database)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


@pytest.fixture
def demo_db_url(demo_template: Path, tmp_path: Path) -> str:
    return sqlite_url(copy_sqlite(demo_template, tmp_path / "demo.db"))


class FreshServers:
    """Fresh servers, each on its own copy of the demo database, one always starting in advance: a test
    takes the one started during the test before it (its start, ~3 s, overlapped that test's waiting),
    and the next starts while it runs. No test ever gets a server another test used. Each starts with
    the environment of the session's start, never with what a running test set (``monkeypatch``)."""

    def __init__(self, template: Path, factory: pytest.TempPathFactory) -> None:
        self.template = template
        self.factory = factory
        self.environ = dict(os.environ)
        self.spare: ServerProcess | None = None

    def _launch(self) -> ServerProcess:
        folder = self.factory.mktemp("server")
        url = sqlite_url(copy_sqlite(self.template, folder / "demo.db"))
        return ServerProcess(url, folder / "server.log").launch(self.environ)

    def take(self) -> ServerProcess:
        process, self.spare = self.spare, None
        try:
            process = (process or self._launch()).wait_ready()
        except RuntimeError:  # the spare did not come up (its port taken meanwhile, say): a new one
            process = self._launch().wait_ready()
        self.spare = self._launch()
        return process

    def close(self) -> None:
        if self.spare is not None:
            self.spare.stop()


@pytest.fixture(scope="session")
def fresh_servers(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshServers]:
    servers = FreshServers(demo_template, tmp_path_factory)
    yield servers
    servers.close()


@pytest.fixture
def server(fresh_servers: FreshServers) -> Iterator[ServerProcess]:
    """A fresh server on its own copy of the demo database (``server.db_url``)."""
    process = fresh_servers.take()
    yield process
    process.stop()


# Every test logs in from 127.0.0.1, some with wrong passwords on purpose (the fuzz test many times): the
# per-source login throttle would block a shared server's address for the tests after them.
SHARED_SERVER_ENV = {"CLINIC_LOGIN_SOURCE_FAILURES": "1000000"}


def server_on_a_copy(template: Path, folder: Path) -> Iterator[ServerProcess]:
    """A server on its own copy of ``template`` in ``folder``, stopped when the generator is closed."""
    url = sqlite_url(copy_sqlite(template, folder / "demo.db"))
    process = ServerProcess(url, folder / "server.log", env=SHARED_SERVER_ENV).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def shared_server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for read-mostly tests that do not depend on a pristine database."""
    yield from server_on_a_copy(demo_template, tmp_path_factory.mktemp("shared-server"))


@pytest.fixture(scope="module")
def module_server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests of one module that write but do not depend on a pristine database (each
    test its own logins, devices and new patients): a server start costs ~3 s of CPU, and the module's
    tests see only each other's writes."""
    yield from server_on_a_copy(demo_template, tmp_path_factory.mktemp("module-server"))


def postgres_url() -> str | None:
    return os.environ.get("CLINIC_TEST_PG_URL")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (``./run test`` starts the server)."""
    base = postgres_url()
    if not base:
        pytest.fail("CLINIC_TEST_PG_URL is not set: run the suite with ./run test, which starts PostgreSQL")
    import uuid

    import sqlalchemy as sa

    name = f"clinic_test_{worker_name()}_{uuid.uuid4().hex[:10]}"  # each worker its own databases
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A demo server on SQLite (a copy of the session's template) or on a fresh PostgreSQL database (its
    audit key in the test's folder; ``process.env`` carries it for commands run against that database)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("server")
        return
    url = request.getfixturevalue("pg_url")
    seed_demo(url, patients=40)
    env = {"CLINIC_AUDIT_KEY_FILE": str(tmp_path / "audit.key")}
    process = ServerProcess(url, tmp_path / "pg-server.log", env=env).start()
    yield process
    process.stop()
