"""What every workstation screen shares: runtime (ops, bus), site configuration, who is logged in, the
current room, this PC's signing keys (OS key store), the PIN of the current patient's consult, and
printing through ops.

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

from shared import clinic_time
from shared.domain.entities import Staff
from shared.errors import SuiteError
from shared.gui.app import ClientRuntime
from shared.gui.ops import CollectionOp, OpChanges, QueryOp
from shared.gui.printing import PrintQueue, QueuedJob
from shared.security.device_keys import DeviceKeys
from shared.security.device_signing import remove_legacy_key_files
from shared.site import SiteConfig
from workstation.texts import t

if TYPE_CHECKING:
    from workstation.documents import Printed

log = logging.getLogger(__name__)

# One PIN entry serves one patient's consult (forgotten when the consult changes patient, at call-next
# and at finish); this cap only ends a consult left open for a very long time.
PIN_MEMORY_SECONDS = 30 * 60.0


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
        self._keys: DeviceKeys | None = None
        remove_legacy_key_files(data_folder)  # sealed key files of earlier versions: never kept again
        self.consult_visit_id = ""  # the visit whose consult is open (the PIN memory's scope)
        self.prints_folder = data_folder / "prints"
        self.print_queue = PrintQueue(
            lambda: self.site,
            data_folder=data_folder,
            spool=data_folder / "print_spool",
            lang=lang,
            context=runtime.context,
            parent=self,
        )
        self.room_id: str = ""
        self._clock = clock or clinic_time.now
        self._pin: tuple[str, str, float] | None = None  # PIN, visit id, when
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
        """The hospital's calendar day now (its zone, not this PC's: ``shared.clinic_time``)."""
        return clinic_time.day_of(self.now())

    def set_room(self, room_id: str) -> None:
        if room_id != self.room_id:
            self.room_id = room_id
            self.sig_room_changed.emit(room_id)

    def message(self, text: str, level: str = "info") -> None:
        self.sig_message.emit(text, level)

    # -- signing keys and the consult's PIN ----------------------------------------------------------

    @property
    def keys(self) -> DeviceKeys:
        """This install's keys in the OS key store (first used on the DB thread: it reads the device id)."""
        if self._keys is None:
            self._keys = DeviceKeys(self.runtime.store.device_id)
        return self._keys

    @keys.setter
    def keys(self, value: DeviceKeys) -> None:
        self._keys = value

    def consult_opened(self, visit_id: str) -> None:
        """The consult now shows ``visit_id``: another patient's consult needs the PIN again."""
        if visit_id != self.consult_visit_id:
            self.forget_pin()
        self.consult_visit_id = visit_id

    def consult_ended(self) -> None:
        """Call-next or finish: the consult's PIN is forgotten."""
        self.forget_pin()
        self.consult_visit_id = ""

    def remembered_pin(self) -> str | None:
        """The PIN entered during the open consult (one patient), or None."""
        if self._pin is None:
            return None
        pin, visit_id, at = self._pin
        if visit_id != self.consult_visit_id or time.monotonic() - at > PIN_MEMORY_SECONDS:
            self._pin = None
            return None
        return pin

    def remember_pin(self, pin: str) -> None:
        """Keep ``pin`` for the rest of the open consult (nothing is kept outside a consult)."""
        self._pin = (pin, self.consult_visit_id, time.monotonic()) if self.consult_visit_id else None

    def forget_pin(self) -> None:
        self._pin = None

    # -- ops ------------------------------------------------------------------------------------------

    def query(self, parent: QObject, fn: Callable[[Any], Any], success: Callable[[Any], Any]) -> QueryOp[Any]:
        return QueryOp(
            parent=parent, op=fn, success=success, context=self.runtime.context
        ).run_in_background()

    def load_usage(self, parent: QObject, kind: type[Any], got: Callable[[Any], Any]) -> None:
        """Count how often this doctor, then their department, chose each item of ``kind`` (drugs,
        diagnoses) in the local store, for the search order; ``got`` receives the counts."""
        staff = self.staff
        if staff is None:
            return
        self.query(
            parent,
            lambda store: store.search_usage(kind, doctor_id=staff.id, department_id=staff.department_id),
            got,
        )

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
        lang = self.lang

        # render on the DB thread; the shared print queue sends it on a worker thread (a printer that is
        # off or slow to answer must not hold up the database), keeps it for a retry if it fails, and
        # records the print (print.record) once it reached the printer
        def prepare(store: Any) -> tuple[bool, bytes]:
            from shared.printing.records import printed_before

            reprint = printed_before(store, document, ref_id)
            return reprint, render(store, reprint)

        def send(prepared: tuple[bool, bytes]) -> None:
            reprint, data = prepared
            self.print_queue.print(kind, title, "pdf", data, ref_id=ref_id, reprint=reprint, on_done=queued)

        def queued(job: QueuedJob) -> None:
            if job.state != "sent":
                failed(SuiteError(job.error, code="printer_unavailable"))
                return
            from workstation.documents import Printed

            done(
                Printed(
                    document,
                    ref_id,
                    job.where,
                    job.job.reprint,
                    job.job.data,
                    record_id=job.record_id,
                    warning=job.record_warning,
                    saved_to_file=job.saved_to_file,
                )
            )

        def done(printed: Printed) -> None:
            from workstation.documents import printed_message

            text, level = printed_message(
                document,
                printed.where,
                reprint=printed.reprint,
                printer_set=self.site.printers.get(kind) is not None,  # type: ignore[call-overload]
                lang=lang,
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
