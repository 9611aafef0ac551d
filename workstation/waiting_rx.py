"""The status bar's note of signed prescriptions still waiting in the outbox for the server (offline).

A signed prescription reaches the pharmacy only once its ``rx.sign`` is pushed; while the server is
down the doctor keeps working and this label says how many signed prescriptions wait, and goes away
when they have all arrived. It redraws on recorded mutations, on sync status changes and on a timer.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from shared.gui import theme
from shared.gui.ops import OpChanges
from workstation.state import WorkState
from workstation.texts import t

WAITING = ("pending", "sent")
REFRESH_MS = 10_000


def waiting_signed_rx(store: Any) -> list[str]:
    """Ids of prescriptions whose signature (``rx.sign``) the server has not confirmed yet (DB thread)."""
    seen: dict[str, None] = {}
    for entry in store.outbox(*WAITING):
        if entry.name == "rx.sign" and entry.args.get("rx_id"):
            seen[str(entry.args["rx_id"])] = None
    return list(seen)


class WaitingRxLabel(QLabel):
    """「3 张已签名处方待上传」 in the status bar; hidden when none wait."""

    def __init__(self, state: WorkState) -> None:
        super().__init__("")
        self.state = state
        self.count = 0
        self._loading = False
        self._stopped = False
        self.setStyleSheet(f"color: {theme.WARN}; font-weight: 600; padding: 0 6px;")
        self.setVisible(False)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.runtime.network.sig_status_changed.connect(lambda _status: self.refresh())
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    def stop(self) -> None:
        """No more refreshes (the window is closing; the runtime may shut down next)."""
        self._stopped = True
        self._timer.stop()

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches_outbox or changes.from_sync or changes.touches("rx"):
            self.refresh()

    def refresh(self) -> None:
        if self._loading or self._stopped or self.state.staff is None:
            return
        self._loading = True

        def shown(ids: list[str]) -> None:
            self._loading = False
            self.count = len(ids)
            self.setText(t("rx.waiting_upload", self.state.lang, n=self.count))
            self.setToolTip(t("rx.waiting_upload_tip", self.state.lang))
            self.setVisible(self.count > 0)

        def failed(error: BaseException) -> None:
            self._loading = False
            self.state.show_error(error)

        self.state.query(self, waiting_signed_rx, shown).failure(failed)
