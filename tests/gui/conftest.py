"""GUI test setup: offscreen Qt, the suite's theme (CJK font), and an op context on a real worker thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from shared.gui.ops import OpBus, OpContext  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.gui.workers import DbWorker  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session", autouse=True)
def themed_app(qapp: QApplication) -> QApplication:
    apply_theme(qapp, "zh_CN")
    return qapp


@pytest.fixture
def bus() -> OpBus:
    return OpBus()


def make_context(store: object, bus: OpBus) -> Iterator[OpContext]:
    worker = DbWorker(store)
    context = OpContext(worker, bus)
    yield context
    assert worker.stop(5.0)
    OpContext.uninstall()


def save_screenshot(widget: QWidget, name: str) -> Path:
    """Render ``widget`` to docs/screenshots/<name>.png (people look at these; tests only check they exist)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()  # let pending layout requests run, as the event loop would
    path = SCREENSHOTS / f"{name}.png"
    assert widget.grab().save(str(path)), path
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[object]:
    """A real LocalStore with a nurse logged in (so mutations can be recorded)."""
    from shared.domain.entities import Staff
    from shared.store import LocalStore

    local = LocalStore.open(tmp_path / "local.db", app="gui-test")
    local.set_session(Staff(id="staff-nurse1", username="nurse1", name="王护士", roles=["nurse"]), None)
    yield local
    local.close()


@pytest.fixture
def context(store: object, bus: OpBus) -> Iterator[OpContext]:
    yield from make_context(store, bus)


def record_rejected(store: object, count: int, *, message: str = "证件号已登记给患者 M000123") -> list[str]:
    """Record ``count`` patient registrations and store the server's rejection of each (the real path)."""
    from shared.ids import new_id
    from shared.protocol.models import MutationOutcome

    ids = []
    for index in range(count):
        entry = store.record(  # type: ignore[attr-defined]
            "patient.register",
            {
                "id": new_id(),
                "name": f"测试患者{index}",
                "sex": "F",
                "birth_date": "1980-05-01",
                "phone": "13812345678",
            },
        )
        store.mark_sent([entry.mutation_id])  # type: ignore[attr-defined]
        store.apply_outcomes(  # type: ignore[attr-defined]
            [
                MutationOutcome(
                    mutation_id=entry.mutation_id,
                    client_seq=entry.client_seq,
                    status="rejected",
                    code="patient.duplicate_id_number",
                    message=message,
                )
            ]
        )
        ids.append(entry.mutation_id)
    return ids
