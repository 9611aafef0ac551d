"""What the triage screens share: the runtime (ops, bus), site configuration, language, clock, who is
logged in, and the two actions every screen needs (record a mutation, print a slip), both off the GUI thread.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from shared.domain.entities import Staff
from shared.gui.app import ClientRuntime
from shared.gui.ops import CollectionOp, OpChanges, describe_error
from shared.gui.printing import PrintQueue, QueuedJob
from shared.printing.ticket import TicketSlip
from shared.site import SiteConfig
from shared.store.store import OutboxEntry
from triage_desk.slip import slip_bytes
from triage_desk.texts import t

log = logging.getLogger(__name__)

QUEUE_KINDS = ("queue_ticket", "queue", "queue_notice", "patient", "appointment")


class TriageState(QObject):
    """Shared by the triage screens (nurse app, kiosk, display). GUI thread only."""

    sig_message = Signal(str, str)  # text, level (info / ok / warning / error)
    sig_slip_printed = Signal(str, bytes)  # where, bytes

    def __init__(
        self,
        runtime: ClientRuntime,
        *,
        site: SiteConfig,
        lang: str,
        clock: Callable[[], dt.datetime] | None = None,
        data_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.site = site
        self.lang = lang
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        folder = data_folder or runtime.data_folder
        self._slips_printed: set[str] = set()  # ticket ids whose slip this desk printed
        self.data_folder = folder or Path(".")
        self.print_queue = PrintQueue(
            lambda: self.site,
            data_folder=folder,
            spool=folder / "print_spool" if folder else None,
            lang=lang,
            context=runtime.context,
            parent=self,
        )

    # -- who, where, when ---------------------------------------------------------------------------

    @property
    def staff(self) -> Staff | None:
        return self.runtime.staff

    @property
    def campus_id(self) -> str | None:
        return self.runtime.campus_id

    def now(self) -> dt.datetime:
        return self._clock()

    def set_clock(self, clock: Callable[[], dt.datetime]) -> None:
        """Tests and demos run the desk at a chosen time (the store's mutation clock follows)."""
        self._clock = clock
        self.runtime.store.clock = clock

    def message(self, text: str, level: str = "info") -> None:
        self.sig_message.emit(text, level)

    # -- actions ------------------------------------------------------------------------------------

    def record(
        self,
        parent: QObject | None,
        name: str,
        args: Mapping[str, Any],
        *,
        kinds: tuple[str, ...] = ("queue_ticket",),
        on_done: Callable[[OutboxEntry], Any] | None = None,
        on_failed: Callable[[BaseException], Any] | None = None,
    ) -> None:
        """Record a mutation in the outbox (the local rule runs at once; pushed when online).

        A local rejection shows in the screen's message line; warnings (e.g. 'already called by …')
        too. ``on_done`` gets the outbox entry with the local result.
        """
        lang = self.lang

        def done(entry: OutboxEntry) -> None:
            for warning in entry.warnings:
                self.message(warning, "warning")
            if on_done is not None:
                on_done(entry)

        def failed(error: BaseException) -> None:
            self.message(describe_error(error, lang).message, "error")
            if on_failed is not None:
                on_failed(error)

        CollectionOp(
            parent,
            lambda store: store.record(name, dict(args), lang=lang),
            changes=(*kinds, OpChanges.OUTBOX),
            context=self.runtime.context,
        ).success(done).failure(failed).run_in_background()

    def print_slip(self, slip: TicketSlip, *, on_done: Callable[[bool, str], Any] | None = None) -> None:
        """Print a ticket slip on this PC's ticket printer through the shared print queue (off the GUI
        thread, kept for a retry if the printer is off, recorded with ``print.record``); the outcome is
        shown. A slip printed again for the same ticket is marked a reprint."""
        lang = self.lang
        setting = self.print_queue.setting_for("ticket")
        data = slip_bytes(slip, setting, lang)
        reprint = slip.ticket_id in self._slips_printed
        self._slips_printed.add(slip.ticket_id)

        def done(job: QueuedJob) -> None:
            if job.state == "sent":
                self.message(t("print.sent", lang, where=job.where), "ok")
                self.sig_slip_printed.emit(job.where, data)
                if on_done is not None:
                    on_done(True, job.where)
                return
            log.warning("ticket slip %s not printed: %s", slip.number, job.error)
            self.message(t("print.failed", lang, reason=job.error), "error")
            if on_done is not None:
                on_done(False, job.error)

        self.print_queue.print(
            "ticket", slip.number, "escpos", data, ref_id=slip.ticket_id, reprint=reprint, on_done=done
        )
