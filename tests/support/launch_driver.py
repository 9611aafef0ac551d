"""Start an app as ``clinic <command>`` does, log in through its login dialog like a person (type the
username and password, press 登录), wait for its main window, print what it shows, and quit.

    python -m tests.support.launch_driver COMMAND USERNAME --server URL --data-folder DIR

Run in a subprocess by tests: an app that crashes (a segmentation fault in Qt) fails the test instead
of the test run."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

APPS = {
    "pharmacy": "pharmacy_desk.main",
    "workstation": "workstation.main",
    "triage": "triage_desk.main",
    "admin": "shared.gui.admin.main",
}


def main() -> int:
    command, username, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    add_arguments, run = importlib.import_module(APPS[command]).COMMANDS[command]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(rest)
    app = QApplication(sys.argv[:1])
    seen: dict[str, object] = {}

    def log_in() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not hasattr(dialog, "password_edit"):
            QTimer.singleShot(100, log_in)
            return
        dialog.username_edit.setText(username)  # type: ignore[attr-defined]
        dialog.password_edit.setText("Demo-2026")  # type: ignore[attr-defined]
        dialog.submit_button.click()  # type: ignore[attr-defined]
        QTimer.singleShot(100, look)

    lacks = os.environ.get("LAUNCH_TITLE_LACKS", "\0")  # wait until the title no longer shows this

    def look(tries: int = 0) -> None:
        shown = [w for w in QApplication.topLevelWidgets() if w.isVisible() and w.windowTitle()]
        waiting = QApplication.activeModalWidget() is not None or not shown or lacks in shown[0].windowTitle()
        if waiting and tries < 300:
            QTimer.singleShot(100, lambda: look(tries + 1))
            return
        seen["title"] = shown[0].windowTitle() if shown else ""
        seen["gc_threshold"] = gc.get_threshold()[0]
        QTimer.singleShot(1500, app.quit)  # let the first sync and loads run meanwhile

    QTimer.singleShot(200, log_in)
    code = run(args)
    sys.stdout.write(json.dumps({"exit": code, **seen}, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
