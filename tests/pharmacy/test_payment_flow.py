"""Payment before the pickup code at the desk, against a real server: approve → 待缴费 → 收费 → code → dispense."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from server_stub.config import sqlite_url
from server_stub.db.engine import Database
from server_stub.services.entities import ServerState, write_entities
from shared.domain.entities import Pharmacy, PickupCodeState, Prescription
from shared.domain.pharmacy import pickup_state_id
from shared.domain.pickup import code_digest
from tests.conftest import copy_sqlite
from tests.pharmacy.conftest import PharmacyServer
from tests.pharmacy.support import PHARMACIST_PIN, seed_signed_prescriptions
from tests.pharmacy.test_desk_flow import printed, server_state, shoot
from tests.support.server import ServerProcess


def require_payment(db_url: str, code: str) -> None:
    """Switch a pharmacy to payment before the pickup code, as an administrator would."""
    db = Database.open(db_url, pool_size=1)
    try:
        with db.read() as conn:
            pharmacy = ServerState(conn).find(Pharmacy, code=code)[0]
        with db.write() as conn:
            write_entities(
                conn,
                [pharmacy.model_copy(update={"payment_required": True, "version": pharmacy.version + 1})],
            )
    finally:
        db.dispose()


@pytest.fixture
def pharmacy_server(demo_template: Path, tmp_path: Path) -> Iterator[PharmacyServer]:
    """The desk's usual server, with 本部门诊西药房 taking payment before the code and one signed prescription."""
    url = sqlite_url(copy_sqlite(demo_template, tmp_path / "demo.db"))
    seeded = seed_signed_prescriptions(url, count=1)
    require_payment(url, "MAIN-WY")
    process = ServerProcess(url, tmp_path / "server.log").start()
    yield PharmacyServer(process, seeded, tmp_path / "desk", url)
    process.stop()


def test_approve_then_take_payment_then_the_code_then_dispense(
    qtbot: QtBot, desk: Any, pharmacy_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmacy_desk.dialogs import PaymentDialog, PinDialog

    window, state = desk, desk.state
    review = window.review
    rx = pharmacy_server.prescriptions[0].rx
    store = state.runtime.store

    # Approval signs the review but draws no code: this pharmacy takes payment first.
    qtbot.waitUntil(lambda: review.queue.count("signed") == 1, timeout=15_000)
    assert review.select(rx.id)
    qtbot.waitUntil(lambda: review.detail is not None and review.detail.rx.id == rx.id)
    monkeypatch.setattr(PinDialog, "ask", classmethod(lambda cls, parent, **kw: PHARMACIST_PIN))
    qtbot.mouseClick(review.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: review.queue.count("approved") == 1, timeout=10_000)
    assert review.last_outcome.pickup_code == "" and review.last_outcome.awaiting_payment
    assert "待缴费" in window.message_line.text()
    assert review.select(rx.id)
    qtbot.waitUntil(lambda: "待缴费" in review.review_label.text(), timeout=5_000)
    assert review.dispense_button.text() == "收费 →" and review.dispense_button.isEnabled()
    shoot(window, "review_awaiting_payment")

    # The dispensing screen shows 待缴费 with the amount and a 收费 button; dispensing waits for payment.
    window.open_for_dispensing(rx.number)
    dispense = window.dispense
    qtbot.waitUntil(lambda: dispense.plan is not None and dispense.plan.rx.id == rx.id, timeout=10_000)
    assert dispense.plan.awaiting_payment and dispense.plan.pickup is None
    assert dispense.payment_label.isVisibleTo(dispense) and dispense.pay_button.isVisibleTo(dispense)
    assert dispense.payment_label.text() == f"待缴费 ¥{rx.total_amount}"
    assert dispense.pay_button.isEnabled() and not dispense.dispense_button.isEnabled()
    shoot(window, "payment_due")

    # 收费 (F8): the method is asked, the stub gateway confirms, rx.pay issues the code shown here.
    asked: list[dict[str, Any]] = []
    monkeypatch.setattr(PaymentDialog, "ask", classmethod(lambda cls, parent, **kw: asked.append(kw) or "qr"))
    with qtbot.waitSignal(dispense.sig_paid, timeout=10_000) as paid:
        qtbot.keyClick(dispense, Qt.Key.Key_F8)
    outcome = paid.args[0]
    assert asked[0]["amount"] == rx.total_amount and asked[0]["number"] == rx.number
    code = outcome.pickup_code
    assert len(code) == 6 and outcome.payment_ref.startswith("QRPY") and not outcome.repeated
    assert code in window.message_line.text() and code in dispense.code_label.text()
    qtbot.waitUntil(
        lambda: dispense.plan.rx.paid_at is not None and dispense.plan.pickup is not None, timeout=10_000
    )
    assert not dispense.pay_button.isVisibleTo(dispense)
    assert "已缴费" in dispense.payment_label.text() and outcome.payment_ref in dispense.payment_label.text()
    assert not dispense.dispense_button.isEnabled()  # the code is still to be checked
    shoot(window, "paid")

    # The patient shows the code: verified, dispensed, labels and receipt printed.
    dispense.code_edit.setText(code)
    qtbot.mouseClick(dispense.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dispense.verified_code == code, timeout=5_000)
    qtbot.waitUntil(dispense.dispense_button.isEnabled, timeout=5_000)
    kinds: list[str] = []
    dispense.sig_printed.connect(lambda kind, result: kinds.append(f"{kind}:{result}"))
    with qtbot.waitSignal(dispense.sig_dispensed, timeout=10_000) as dispensed:
        qtbot.keyClick(dispense, Qt.Key.Key_F9)
    assert dispensed.args[0].complete and not dispensed.args[0].warnings
    qtbot.waitUntil(lambda: sorted(kinds) == ["drug_label:sent", "receipt:sent"], timeout=15_000)
    assert printed(tmp_path / "prints", "drug_label")

    # The server has the payment, the code's digest (never the code) and the dispense.
    qtbot.waitUntil(lambda: store.pending_count() == 0, timeout=20_000)
    on_server = server_state(pharmacy_server.db_url, lambda s: s.get(Prescription, rx.id))
    assert on_server.status == "dispensed" and on_server.payment_method == "qr"
    assert on_server.payment_ref == outcome.payment_ref and on_server.amount_paid == rx.total_amount
    code_row = server_state(pharmacy_server.db_url, lambda s: s.get(PickupCodeState, pickup_state_id(rx.id)))
    assert code_row.digest == code_digest(rx.id, code) and code_row.used_at is not None
    assert code not in on_server.pickup_code_hash
