"""A central API, a cuttable link and a clinic hub in front of it, as real processes on loopback.

``clinic`` gives the three: ``clinic.central`` (a ``ServerProcess`` on its own demo database),
``clinic.link`` (``CutLink``: ``cut()`` / ``restore()`` the hub's WAN link) and ``clinic.hub`` (a
``HubProcess`` whose upstream is the link). Other test folders may reuse it with
``from tests.hub.conftest import clinic  # noqa: F401``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hub import CutLink, HubProcess, stop_all
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


@pytest.fixture
def clinic(server: ServerProcess, tmp_path: Path) -> Iterator[Clinic]:
    link = CutLink(server.port)
    hub = HubProcess(link.url, tmp_path / "hub.db", tmp_path / "hub.log", credential=hub_credential()).start()
    try:
        hub.wait_upstream(True)
        yield Clinic(central=server, link=link, hub=hub, folder=tmp_path)
    finally:
        hub.stop()
        link.close()
