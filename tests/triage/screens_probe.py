"""Run in a child process with two offscreen monitors (``QT_QPA_PLATFORM=offscreen:configfile=…``): place the
waiting-room display, unplug and re-plug its monitor, let the nurse pick the other one, and print what
happened as one JSON line. ``python -m tests.triage.screens_probe SETTINGS.ini``."""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QApplication

from triage_desk.display import DisplayWindow, ScreenKeeper


def main(settings_path: str) -> None:
    app = QApplication(sys.argv[:1])
    report: dict[str, object] = {"screens": [s.name() for s in app.screens()]}
    unplugged: set[str] = set()

    def plugged() -> list[QScreen]:
        return [s for s in QGuiApplication.screens() if s.name() not in unplugged]

    def settle() -> None:
        for _ in range(5):
            app.processEvents()

    def where(window: DisplayWindow) -> dict[str, object]:
        settle()
        handle = window.windowHandle()
        return {
            "screen": handle.screen().name() if handle is not None else "",
            "geometry": list(window.geometry().getRect()),
            "full_screen": window.isFullScreen(),
        }

    settings = QSettings(settings_path, QSettings.Format.IniFormat)
    window = DisplayWindow("zh_CN")
    keeper = ScreenKeeper(window, preferred="HDMI-1", settings=settings, screens=plugged)
    window.keeper = keeper
    moves: list[str] = []
    keeper.sig_moved.connect(moves.append)
    keeper.place()
    report["placed"] = where(window)

    hdmi = next(s for s in app.screens() if s.name() == "HDMI-1")
    unplugged.add("HDMI-1")
    app.screenRemoved.emit(hdmi)  # what Qt says when the monitor is unplugged
    report["unplugged"] = where(window)
    unplugged.clear()
    app.screenAdded.emit(hdmi)  # and plugged in again
    report["replugged"] = where(window)

    menu = window.screen_menu()
    submenu = menu.actions()[0].menu()
    report["menu"] = [a.text() for a in submenu.actions()]
    next(a for a in submenu.actions() if a.text() == "DP-2").trigger()  # the nurse picks DP-2
    report["chosen"] = where(window)
    report["moves"] = moves
    window.close()

    again = DisplayWindow("zh_CN")  # the next start of the display on this PC, nothing configured
    other = ScreenKeeper(
        again, settings=QSettings(settings_path, QSettings.Format.IniFormat), screens=plugged
    )
    other.place()
    report["next_start"] = where(again)
    again.close()
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
