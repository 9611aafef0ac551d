"""The entry point of a frozen bundle: ``clinic-triage --self-test`` is ``clinic triage --self-test``.

Each bundle's executable has a default command (its app, or ``server``) and also answers the other
``clinic`` commands that its bundle contains (``update``, ``config``, ``sync-report`` …), plus
``--version``. Commands whose module was not bundled are refused with a clear message.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import sys
from pathlib import Path

from shared.update.build_info import bundle_root, current_build


def _bundle_environment() -> None:
    """Point the PDF code at the CJK font shipped in the bundle unless IT chose one."""
    root = bundle_root()
    if root is None:
        return
    fonts = root / "fonts"
    if sys.platform != "win32" and "CLINIC_PDF_FONT" not in os.environ and fonts.is_dir():
        for font in sorted(fonts.glob("*.tt[fc]")):
            os.environ["CLINIC_PDF_FONT"] = str(font) + ("#0" if font.suffix == ".ttc" else "")
            break


def _console_fallback(app: str) -> None:
    """A windowed Windows build has no console: send stdout/stderr (self-test reports, errors) to a log."""
    if sys.stdout is not None and sys.stderr is not None:
        return
    import platformdirs

    folder = Path(platformdirs.user_log_dir("ClinicSuite", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    stream = (folder / f"{app}-console.log").open("a", encoding="utf-8", buffering=1)
    sys.stdout = sys.stdout or stream
    sys.stderr = sys.stderr or stream


def launch(default_command: str, argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()  # uvicorn --workers N starts processes from the frozen executable
    _console_fallback(default_command)
    from shared.cli import COMMANDS, main

    args = list(sys.argv[1:] if argv is None else argv)
    _bundle_environment()
    if args[:1] in (["--version"], ["version"]):
        sys.stdout.write(json.dumps(current_build(default_command).as_dict(), ensure_ascii=False) + "\n")
        return 0
    if not args or args[0] not in COMMANDS:
        args = [default_command, *args]
    module = COMMANDS[args[0]][0]
    if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
        sys.stderr.write(f"this build does not include the '{args[0]}' command\n")
        return 2
    return main(args)
