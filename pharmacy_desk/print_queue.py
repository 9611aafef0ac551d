"""The desk's print queue: jobs are sent off the GUI thread, and a job that fails is kept for a retry.

A failed job stays in memory and in a spool folder (``<data folder>/print_spool``), so neither a
printer that is off nor a restart of the app loses it; ``retry`` sends it again, ``discard`` drops it.
Signals carry the outcome of every job to the screen that asked and to the window's job counter.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from pharmacy_desk.print_routes import Content, PrintJob, send
from pharmacy_desk.texts import t
from shared.errors import SuiteError
from shared.gui.workers import run_in_background
from shared.i18n import DEFAULT_LANGUAGE
from shared.ids import new_id
from shared.site import PrinterSetting, SiteConfig

log = logging.getLogger(__name__)


@dataclass
class QueuedJob:
    job: PrintJob
    state: str = "sending"  # sending, sent, failed
    error: str = ""
    where: str = ""
    attempts: int = 0
    on_done: Callable[[QueuedJob], object] | None = field(default=None, repr=False)


class PrintQueue(QObject):
    """Sends print jobs through the PC's printer settings; failed jobs wait for ``retry``."""

    sig_job_finished = Signal(object)  # QueuedJob, sent or failed
    sig_failed_changed = Signal(int)  # how many jobs wait for a retry

    def __init__(
        self,
        settings: Callable[[], SiteConfig],
        *,
        spool: Path | None = None,
        lang: str = DEFAULT_LANGUAGE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._settings = settings
        self.lang = lang
        self.spool = spool
        self.jobs: dict[str, QueuedJob] = {}
        self.history: list[QueuedJob] = []
        self._load_spool()

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
        config = self._settings()
        if kind == "test":
            return PrinterSetting()
        return config.printer(kind)  # type: ignore[arg-type]

    def _send(self, queued: QueuedJob, setting: PrinterSetting | None = None) -> None:
        queued.state = "sending"
        queued.attempts += 1
        chosen = setting or self.setting_for(queued.job.kind)
        lang = self.lang
        run_in_background(
            lambda: send(queued.job, chosen, lang=lang),
            on_success=lambda where: self._finished(queued, where, None),
            on_failure=lambda error: self._finished(queued, "", error),
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
        """A one-off job to an explicit setting (the printers screen's test page); not kept on failure."""
        job = PrintJob(new_id(), kind, title, content, data, dt.datetime.now())
        queued = QueuedJob(job, on_done=on_done)
        queued.attempts = 0
        queued.state = "sending"
        queued.attempts += 1
        lang = self.lang

        def done(where: str | None, error: BaseException | None) -> None:
            queued.state = "sent" if error is None else "failed"
            queued.where = where or ""
            queued.error = _message(error, lang) if error else ""
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

    def _finished(self, queued: QueuedJob, where: str, error: BaseException | None) -> None:
        if error is None:
            queued.state, queued.where, queued.error = "sent", where, ""
            self.jobs.pop(queued.job.id, None)
            self._unspool(queued.job)
        else:
            queued.state, queued.error = "failed", _message(error, self.lang)
            log.info("print job %s (%s) failed: %s", queued.job.id, queued.job.kind, queued.error)
            self._spool(queued.job)
        self.history.append(queued)
        if queued.on_done is not None:
            queued.on_done(queued)
        self.sig_job_finished.emit(queued)
        self.sig_failed_changed.emit(len(self.failed()))

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
            self._unspool(queued.job)
        self.sig_failed_changed.emit(len(self.failed()))

    # -- the spool folder ----------------------------------------------------------------------------

    def _paths(self, job: PrintJob) -> tuple[Path, Path] | None:
        if self.spool is None:
            return None
        return self.spool / f"{job.id}.{job.extension}", self.spool / f"{job.id}.json"

    def _spool(self, job: PrintJob) -> None:
        paths = self._paths(job)
        if paths is None or paths[1].exists():
            return
        try:
            paths[0].parent.mkdir(parents=True, exist_ok=True)
            paths[0].write_bytes(job.data)
            meta = {
                "id": job.id,
                "kind": job.kind,
                "title": job.title,
                "content": job.content,
                "created_at": job.created_at.isoformat(),
                "ref_id": job.ref_id,
                "reprint": job.reprint,
            }
            paths[1].write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        except OSError:
            log.exception("cannot spool print job %s", job.id)

    def _unspool(self, job: PrintJob) -> None:
        paths = self._paths(job)
        if paths is None:
            return
        for path in paths:
            path.unlink(missing_ok=True)

    def _load_spool(self) -> None:
        if self.spool is None or not self.spool.is_dir():
            return
        for meta_path in sorted(self.spool.glob("*.json")):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                ext = "pdf" if meta["content"] == "pdf" else "bin"
                data = (self.spool / f"{meta['id']}.{ext}").read_bytes()
                job = PrintJob(
                    meta["id"],
                    meta["kind"],
                    meta["title"],
                    meta["content"],
                    data,
                    dt.datetime.fromisoformat(meta["created_at"]),
                    str(meta.get("ref_id", "")),
                    bool(meta.get("reprint", False)),
                )
            except (OSError, ValueError, KeyError):
                log.warning("unreadable spooled print job %s", meta_path)
                continue
            self.jobs[job.id] = QueuedJob(job, state="failed", error="")


def _message(error: BaseException, lang: str) -> str:
    if isinstance(error, SuiteError):
        return error.message
    return t("print.bad_target", lang, target=f"{type(error).__name__}: {error}")
