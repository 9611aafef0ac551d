"""The spool folder: a print job that did not reach its printer waits on disk (``<data folder>/print_spool``)
until it is retried or discarded, so neither a printer that is off nor a restart of the app loses it.

Each job is two files: ``<id>.pdf|bin`` (the bytes) and ``<id>.json`` (what the print record needs).
Qt-free; the queue (``shared.gui.printing.PrintQueue``) decides when to keep and drop.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from shared.printing.router import PrintJob

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _paths(self, job: PrintJob) -> tuple[Path, Path] | None:
        if self.folder is None:
            return None
        return self.folder / f"{job.id}.{job.extension}", self.folder / f"{job.id}.json"

    def keep(self, job: PrintJob) -> None:
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

    def drop(self, job: PrintJob) -> None:
        paths = self._paths(job)
        if paths is None:
            return
        for path in paths:
            path.unlink(missing_ok=True)

    def load(self) -> list[PrintJob]:
        """The jobs left in the folder (oldest file name first); unreadable ones are logged and skipped."""
        if self.folder is None or not self.folder.is_dir():
            return []
        jobs = []
        for meta_path in sorted(self.folder.glob("*.json")):
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                ext = "pdf" if meta["content"] == "pdf" else "bin"
                data = (self.folder / f"{meta['id']}.{ext}").read_bytes()
                jobs.append(
                    PrintJob(
                        meta["id"],
                        meta["kind"],
                        meta["title"],
                        meta["content"],
                        data,
                        dt.datetime.fromisoformat(meta["created_at"]),
                        str(meta.get("ref_id", "")),
                        bool(meta.get("reprint", False)),
                    )
                )
            except (OSError, ValueError, KeyError):
                log.warning("unreadable spooled print job %s", meta_path)
        return jobs
