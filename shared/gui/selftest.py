"""``--self-test`` for every app, frozen or not: open (or create) the app's local database and run its
migrations, build the main window offscreen, render one document of the app's kind, and exit 0.

Each app's command calls ``run_self_test`` when given ``--self-test``; IT and the updater run it after an
install or update, and a non-zero exit rolls the update back. It prints one JSON line with what it did.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.store.paths import data_dir


def run_self_test(
    app: str,
    make_window: Callable[[], Any],
    render: Callable[[Path], Path],
    *,
    data_folder: str | os.PathLike[str] | None = None,
    out_dir: Path | None = None,
) -> int:
    """Run the self-test; ``make_window()`` builds (not shows) the main window without a server and
    ``render(folder)`` writes one document into ``folder`` and returns its path."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    report: dict[str, Any] = {"app": app, "ok": False}
    started = time.perf_counter()
    try:
        from shared.store.store import LocalStore

        folder = data_dir(data_folder)
        folder.mkdir(parents=True, exist_ok=True)
        store = LocalStore.open(folder / f"{app}.db", app=app, key="os")
        report["database"] = str(folder / f"{app}.db")
        store.close()

        from PySide6.QtWidgets import QApplication

        qt_app = QApplication.instance() or QApplication([sys.argv[0], "-platform", "offscreen"])
        window = make_window()
        report["window"] = type(window).__name__
        target = out_dir or Path(tempfile.mkdtemp(prefix=f"clinic-selftest-{app}-"))
        target.mkdir(parents=True, exist_ok=True)
        document = render(target)
        size = document.stat().st_size
        if size <= 0:
            raise RuntimeError(f"{document} is empty")
        report.update(document=str(document), document_bytes=size)
        close = getattr(window, "close", None)
        if close is not None:
            close()
        qt_app.processEvents()
        report["ok"] = True
    except Exception as exc:  # noqa: BLE001 - the self-test reports every failure as a non-zero exit
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc(limit=8)
    report["seconds"] = round(time.perf_counter() - started, 3)
    sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    return 0 if report["ok"] else 1
