"""What every workstation screen shares: runtime (ops, bus), site configuration, who is logged in, the
current room, the signing key folder, a short-lived PIN memory, and printing through ops.

Screens talk to the store only through ops and redraw when ``sig_operation_did_execute`` touches what
they show. ``WorkState`` holds no widgets.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from shared.domain.entities import Staff
from shared.gui.app import ClientRuntime
from shared.gui.ops import CollectionOp, OpChanges, QueryOp
from shared.gui.workers import run_in_background
from shared.security.keyfile import KeyFile
from shared.site import SiteConfig
from workstation.texts import t

if TYPE_CHECKING:
    from workstation.documents import Printed

log = logging.getLogger(__name__)

PIN_MEMORY_SECONDS = 300.0


class WorkState(QObject):
    """Shared by the screens. ``sig_room_changed`` fires when the doctor switches rooms."""

    sig_room_changed = Signal(str)
    sig_message = Signal(str, str)  # text, level
    sig_open_consult = Signal(str, str)  # visit id, ticket id ("" if none)

    def __init__(
        self,
        runtime: ClientRuntime,
        *,
        site: SiteConfig,
        data_folder: Path,
        lang: str,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.site = site
        self.lang = lang
        self.data_folder = data_folder
        self.keys = KeyFile(data_folder / "signing_keys")
        self.prints_folder = data_folder / "prints"
        self.room_id: str = ""
        self._clock = clock or (lambda: dt.datetime.now().astimezone())
        self._pin: tuple[str, float] | None = None
        self._warming: Any = None  # the BackgroundCall that prepares printing, once started

    # -- who and where ------------------------------------------------------------------------------

    @property
    def staff(self) -> Staff | None:
        return self.runtime.staff

    @property
    def campus_id(self) -> str | None:
        return self.runtime.campus_id

    def now(self) -> dt.datetime:
        return self._clock()

    def today(self) -> dt.date:
        return self.now().date()

    def set_room(self, room_id: str) -> None:
        if room_id != self.room_id:
            self.room_id = room_id
            self.sig_room_changed.emit(room_id)

    def message(self, text: str, level: str = "info") -> None:
        self.sig_message.emit(text, level)

    # -- PIN memory (so one consult's note and prescriptions need one PIN) ----------------------------

    def remembered_pin(self) -> str | None:
        if self._pin is None:
            return None
        pin, at = self._pin
        if time.monotonic() - at > PIN_MEMORY_SECONDS:
            self._pin = None
            return None
        return pin

    def remember_pin(self, pin: str) -> None:
        self._pin = (pin, time.monotonic())

    def forget_pin(self) -> None:
        self._pin = None

    # -- ops ------------------------------------------------------------------------------------------

    def query(self, parent: QObject, fn: Callable[[Any], Any], success: Callable[[Any], Any]) -> QueryOp[Any]:
        return QueryOp(
            parent=parent, op=fn, success=success, context=self.runtime.context
        ).run_in_background()

    def act(
        self,
        parent: QObject,
        fn: Callable[[Any], Any],
        *,
        changes: tuple[str, ...],
        success: Callable[[Any], Any] | None = None,
        failure: Callable[[BaseException], Any] | None = None,
    ) -> CollectionOp[Any]:
        """Record mutation(s) off the GUI thread; refusals show in the message line unless handled."""

        def failed(error: BaseException) -> None:
            if failure is not None:
                failure(error)
            else:
                self.show_error(error)

        return (
            CollectionOp(parent, fn, changes=(*changes, OpChanges.OUTBOX), context=self.runtime.context)
            .success(success)
            .failure(failed)
            .run_in_background()
        )

    def show_error(self, error: BaseException) -> None:
        from shared.gui.ops import describe_error

        report = describe_error(error, self.lang)
        if report.code == "unexpected":
            self.runtime.bus.report_error(error)
        self.message(report.message, "error")

    def printing_ready(self, timeout: float = 0.0) -> bool:
        """Whether printing has been prepared (waits up to ``timeout`` seconds)."""
        return self._warming is not None and bool(self._warming.wait(timeout))

    def warm_printing(self, parent: QObject) -> None:
        """Load the PDF libraries and the Chinese font on a background thread after start-up, so the
        window opens without them and the first print does not wait for them. Not on the DB thread:
        the font takes a few hundred milliseconds that a search typed meanwhile must not wait for."""
        from shared.gui.workers import BackgroundCall

        if self._warming is not None:
            return

        def load() -> None:
            from shared.printing.prescription import render_prescription
            from workstation.documents import sample_prescription

            render_prescription(sample_prescription())

        def failed(error: BaseException) -> None:
            log.warning("could not prepare printing: %s", error)

        self._warming = BackgroundCall(load, on_failure=failed, label="warm-printing", parent=parent).start()

    # -- printing -------------------------------------------------------------------------------------

    def print_pdf(
        self,
        parent: QObject,
        *,
        kind: str,
        document: str,
        ref_id: str,
        title: str,
        render: Callable[[Any, bool], bytes],
        on_done: Callable[[Printed], Any] | None = None,
    ) -> None:
        """Render (``render(store, reprint)``) and send a PDF to the PC's printer for ``kind``, then record
        the print (``print.record``); a document printed before (a record is known) is marked a reprint."""
        setting = self.site.printer(kind)  # type: ignore[arg-type]
        lang = self.lang
        folder = self.prints_folder

        # render on the DB thread, send on a worker thread (a printer that is off or slow to answer must not
        # hold up the database), then record the print on the DB thread
        def prepare(store: Any) -> tuple[bool, bytes]:
            from workstation.documents import printed_before

            reprint = printed_before(store, document, ref_id)
            return reprint, render(store, reprint)

        def send(prepared: tuple[bool, bytes]) -> None:
            from workstation.documents import send_pdf

            reprint, data = prepared
            run_in_background(
                lambda: send_pdf(data, setting, kind=kind, title=title, fallback_folder=folder, lang=lang),
                on_success=lambda where: record(reprint, data, where),
                on_failure=failed,
                label="print-pdf",
            )

        def record(reprint: bool, data: bytes, where: str) -> None:
            def job(store: Any) -> Printed:
                from shared.domain.mutations.base import Rejected
                from workstation.documents import Printed, record_print

                try:
                    record_id = record_print(
                        store,
                        document,
                        ref_id,
                        reprint=reprint,
                        copies=setting.copies,
                        printer=where,
                        lang=lang,
                    )
                except Rejected as refused:  # printed all the same: say so rather than "print failed"
                    return Printed(document, ref_id, where, reprint, data, warning=refused.message)
                return Printed(document, ref_id, where, reprint, data, record_id=record_id)

            CollectionOp(
                parent, job, changes=("print_record", OpChanges.OUTBOX), context=self.runtime.context
            ).success(done).failure(failed).run_in_background()

        def done(printed: Printed) -> None:
            from workstation.documents import printed_message

            text, level = printed_message(
                document, printed.where, reprint=printed.reprint, target=setting.target, lang=lang
            )
            if printed.warning:
                self.message(f"{text}；{printed.warning}", "warning")
            else:
                self.message(text, level)
            if on_done is not None:
                on_done(printed)

        def failed(error: BaseException) -> None:
            from shared.gui.ops import describe_error

            self.message(
                t(
                    "print.failed",
                    lang,
                    doc=t(f"doc.{document}", lang),
                    reason=describe_error(error, lang).message,
                ),
                "error",
            )

        QueryOp(parent=parent, op=prepare, success=send, context=self.runtime.context).failure(
            failed
        ).run_in_background()
