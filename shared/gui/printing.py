"""The one print queue of every app: jobs go to their printer off the GUI thread, a job that fails is kept
(in memory and in the spool folder) for a retry, and a job that reached its printer is recorded.

``PrintQueue.print`` takes a finished document (PDF or ESC/POS bytes) of a kind from
``shared.printing.kinds``; the PC's setting for that kind (``shared.printing.settings.printer_setting``)
says where it goes and ``shared.printing.router.send`` takes it there. A job that prints a row
(``ref_id``) is recorded with ``print.record`` on the app's database thread once it reached its printer,
at once or by a retry, also after a restart from the spool. ``on_done`` and ``sig_job_finished`` come
after that record, so a screen can say "printed" and "reprint" knowing the record exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from shared.domain.mutations.base import Rejected
from shared.errors import SuiteError
from shared.gui.ops import CollectionOp, OpChanges, OpContext, describe_error
from shared.gui.workers import run_in_background
from shared.i18n import DEFAULT_LANGUAGE
from shared.ids import new_id
from shared.printing.kinds import Content, kind_label
from shared.printing.records import record_print
from shared.printing.router import PrintJob, is_file_target, send
from shared.printing.router import t as printing_text
from shared.printing.settings import may_edit, printer_setting
from shared.printing.spool import Spool
from shared.site import PrinterSetting, SiteConfig

log = logging.getLogger(__name__)


@dataclass
class QueuedJob:
    job: PrintJob
    state: str = "sending"  # sending, sent, failed
    error: str = ""
    where: str = ""
    attempts: int = 0
    saved_to_file: bool = False  # the target only saved a file (nothing reached paper)
    record_id: str = ""  # the print.record written for it
    record_warning: str = ""  # printed, but the record was refused or failed: why
    on_done: Callable[[QueuedJob], object] | None = field(default=None, repr=False)


class PrintQueue(QObject):
    """Sends print jobs through the PC's printer settings; failed jobs wait for ``retry``.

    ``settings`` returns the site configuration in force (the printers screen may change it);
    ``data_folder`` gives kinds nobody mapped a file printer in ``<data folder>/prints``; ``spool`` is
    where failed jobs wait (``<data folder>/print_spool``); ``context`` is where print records are
    written (the installed ``OpContext`` when None; without one nothing is recorded)."""

    sig_job_finished = Signal(object)  # QueuedJob, sent or failed (after its print record)
    sig_failed_changed = Signal(int)  # how many jobs wait for a retry
    sig_print_recorded = Signal(str, str)  # print record id, document kind

    def __init__(
        self,
        settings: Callable[[], SiteConfig],
        *,
        data_folder: Path | None = None,
        spool: Path | None = None,
        lang: str = DEFAULT_LANGUAGE,
        context: OpContext | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self.data_folder = data_folder
        self.lang = lang
        self._context = context
        self.spool = Spool(spool)
        self.jobs: dict[str, QueuedJob] = {}
        self.history: list[QueuedJob] = []
        for job in self.spool.load():
            self.jobs[job.id] = QueuedJob(job, state="failed")

    # -- submitting ---------------------------------------------------------------------------------

    def print(
        self,
        kind: str,
        title: str,
        content: Content,
        data: bytes,
        *,
        ref_id: str = "",
        reprint: bool = False,
        on_done: Callable[[QueuedJob], object] | None = None,
    ) -> QueuedJob:
        job = PrintJob(new_id(), kind, title, content, data, dt.datetime.now(), ref_id, reprint)
        queued = QueuedJob(job, on_done=on_done)
        self.jobs[job.id] = queued
        self._send(queued)
        return queued

    def setting_for(self, kind: str) -> PrinterSetting:
        if kind == "test":
            return PrinterSetting()
        return printer_setting(self._settings(), kind, self.data_folder)

    def _send(self, queued: QueuedJob) -> None:
        queued.state = "sending"
        queued.attempts += 1
        chosen = self.setting_for(queued.job.kind)
        lang = self.lang
        run_in_background(
            lambda: send(queued.job, chosen, lang=lang),
            on_success=lambda where: self._finished(queued, chosen, where, None),
            on_failure=lambda error: self._finished(queued, chosen, "", error),
            label=f"print-{queued.job.kind}",
        )

    def send_with(
        self,
        kind: str,
        title: str,
        content: Content,
        data: bytes,
        setting: PrinterSetting,
        *,
        on_done: Callable[[QueuedJob], object] | None = None,
    ) -> QueuedJob:
        """A one-off job to an explicit setting (a test page); not kept on failure, never recorded."""
        job = PrintJob(new_id(), kind, title, content, data, dt.datetime.now())
        queued = QueuedJob(job, on_done=on_done, attempts=1)
        lang = self.lang

        def done(where: str | None, error: BaseException | None) -> None:
            queued.state = "sent" if error is None else "failed"
            queued.where = where or ""
            queued.saved_to_file = error is None and is_file_target(setting.target)
            queued.error = self._message(error, kind) if error else ""
            if on_done is not None:
                on_done(queued)
            self.sig_job_finished.emit(queued)

        run_in_background(
            lambda: send(job, setting, lang=lang),
            on_success=lambda where: done(where, None),
            on_failure=lambda error: done(None, error),
            label="print-test",
        )
        return queued

    def _finished(
        self, queued: QueuedJob, setting: PrinterSetting, where: str, error: BaseException | None
    ) -> None:
        if error is not None:
            queued.state, queued.error = "failed", self._message(error, queued.job.kind)
            log.info("print job %s (%s) failed: %s", queued.job.id, queued.job.kind, queued.error)
            self.spool.keep(queued.job)
            self._announce(queued)
            return
        queued.state, queued.where, queued.error = "sent", where, ""
        queued.saved_to_file = is_file_target(setting.target)
        self.jobs.pop(queued.job.id, None)
        self.spool.drop(queued.job)
        self._record(queued, setting)

    def _record(self, queued: QueuedJob, setting: PrinterSetting) -> None:
        """``print.record`` for a job that printed a row (test pages are not recorded), then announce it."""
        job = queued.job
        context = self._context or OpContext.current_or_none()
        if not job.ref_id or job.kind == "test" or context is None:
            self._announce(queued)
            return
        lang, where, copies = self.lang, queued.where, setting.copies

        def record(store: Any) -> str:
            return record_print(
                store, job.kind, job.ref_id, reprint=job.reprint, copies=copies, printer=where, lang=lang
            )

        def recorded(record_id: str) -> None:
            queued.record_id = record_id
            self.sig_print_recorded.emit(record_id, job.kind)
            self._announce(queued)

        def not_recorded(error: BaseException) -> None:
            # printed all the same: say so rather than "print failed"
            queued.record_warning = (
                error.message if isinstance(error, Rejected) else describe_error(error, lang).message
            )
            log.warning("print of %s %s not recorded: %s", job.kind, job.ref_id, queued.record_warning)
            self._announce(queued)

        CollectionOp(self, record, changes=("print_record", OpChanges.OUTBOX), context=context).success(
            recorded
        ).failure(not_recorded).run_in_background()

    def _announce(self, queued: QueuedJob) -> None:
        self.history.append(queued)
        if queued.on_done is not None:
            queued.on_done(queued)
        self.sig_job_finished.emit(queued)
        self.sig_failed_changed.emit(len(self.failed()))

    def _message(self, error: BaseException, kind: str) -> str:
        if isinstance(error, SuiteError):
            if error.code == "printer_not_set" and not may_edit(self._settings()):
                return printing_text("no_printer_it", self.lang, doc=kind_label(kind, self.lang), kind=kind)
            return error.message
        return printing_text("bad_target", self.lang, target=f"{type(error).__name__}: {error}")

    # -- retrying -----------------------------------------------------------------------------------

    def failed(self) -> list[QueuedJob]:
        return [q for q in self.jobs.values() if q.state == "failed"]

    def retry(self, job_id: str | None = None) -> int:
        """Send a failed job (or all of them) again; returns how many were resent."""
        targets = [q for q in self.failed() if job_id is None or q.job.id == job_id]
        for queued in targets:
            self._send(queued)
        return len(targets)

    def discard(self, job_id: str) -> None:
        queued = self.jobs.pop(job_id, None)
        if queued is not None:
            self.spool.drop(queued.job)
        self.sig_failed_changed.emit(len(self.failed()))
