"""A central API, a cuttable link and a clinic hub in front of it, as real processes on loopback.

``clinic`` (a hub not enrolled) and ``enrolled`` (``clinic hub-enrol``) give the three: ``.central`` (a
``ServerProcess``, one per test module: the tests add patients of their own and read the demo data),
``.link`` (``CutLink``: ``cut()`` / ``restore()`` the hub's WAN link) and ``.hub`` (a fresh
``HubProcess`` per test whose upstream is the link). ``hub_before`` makes them in front of another
central API (a fresh one per test: ``tests/hub/test_hub_e2e.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hub import CutLink, HubProcess, enrol_hub, stop_all
from tests.support.server import ServerProcess


@dataclass
class Clinic:
    central: ServerProcess
    link: CutLink
    hub: HubProcess
    folder: Path

    def new_hub(self, name: str = "hub2", **kw: object) -> HubProcess:
        """Another hub process on a database of its own (a replaced machine)."""
        return HubProcess(self.link.url, self.folder / f"{name}.db", self.folder / f"{name}.log", **kw)  # type: ignore[arg-type]


def hub_credential() -> str:
    """The hub's credential; a real enrolment needs the central side (``clinic hub-enrol``)."""
    return "hub_test.not-enrolled-secret"


@pytest.fixture(autouse=True)
def _no_hub_left_running() -> Iterator[None]:
    yield
    stop_all()


@contextlib.contextmanager
def hub_before(
    central: ServerProcess, folder: Path, credential: str, extra: list[str] | None = None
) -> Iterator[Clinic]:
    """A hub with ``credential`` in ``folder``, in front of ``central`` through a cuttable link
    (``extra``: more ``clinic hub`` options)."""
    link = CutLink(central.port)
    hub = HubProcess(
        link.url, folder / "hub.db", folder / "hub.log", credential=credential, extra=extra
    ).start()
    try:
        hub.wait_upstream(True)
        yield Clinic(central=central, link=link, hub=hub, folder=folder)
    finally:
        hub.stop()
        link.close()


@pytest.fixture
def clinic(module_server: ServerProcess, tmp_path: Path) -> Iterator[Clinic]:
    """A fresh hub (not enrolled) per test, in front of the module's central API: the tests only read
    the central's demo data and add patients of their own."""
    with hub_before(module_server, tmp_path, hub_credential()) as made:
        yield made


@pytest.fixture
def enrolled(module_server: ServerProcess, tmp_path: Path) -> Iterator[Clinic]:
    """A fresh hub enrolled at the module's central API (``clinic hub-enrol``)."""
    with hub_before(module_server, tmp_path, enrol_hub(module_server)) as made:
        yield made
