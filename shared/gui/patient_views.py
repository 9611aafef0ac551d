"""Screens audit what they show: each patient record a screen shows is recorded once as ``patient.view``
(``shared.store.patient_views``) through an op, offline too; the server's audit log keeps who, which PC,
which screen and when."""

from __future__ import annotations

from PySide6.QtCore import QObject

from shared.gui.ops import CollectionOp, OpChanges, OpContext
from shared.store.patient_views import record_patient_view


class ViewAudit:
    """One screen's record of the patients it showed: a patient is recorded when the screen turns to
    them, not again while it keeps showing them (a refresh is not a new view)."""

    def __init__(self, parent: QObject, screen: str, context: OpContext | None = None) -> None:
        self.parent = parent
        self.screen = screen
        self.context = context
        self.showing = ""

    def shown(self, patient_id: str | None) -> None:
        if not patient_id or patient_id == self.showing:
            self.showing = patient_id or ""
            return
        self.showing = patient_id
        screen = self.screen
        CollectionOp(
            self.parent,
            lambda store: record_patient_view(store, patient_id, screen),
            changes=(OpChanges.OUTBOX,),
            context=self.context,
        ).run_in_background()
