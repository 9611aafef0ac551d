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


# Commands that open an app's window and its local database (the rest are one-shot tools).
GUI_COMMANDS = ("triage", "kiosk", "display", "workstation", "pharmacy")


def _data_folder(args: list[str]) -> Path | None:
    """The local data folder this command will use (``--data-folder``, else the site's, else the
    user's), or None when the site file is broken (the command itself reports that)."""
    folder: str | None = None
    if "--data-folder" in args[:-1]:
        folder = args[args.index("--data-folder") + 1]
    try:
        from shared.site import load_site_config
        from shared.store.paths import data_dir

        return data_dir(folder or load_site_config().data_folder or None)
    except Exception:  # noqa: BLE001 - the command reports its configuration problems itself
        return None


def _file_logging(app: str, data: Path | None, verbose: bool) -> Path | None:
    """Every frozen command logs to ``<data folder>/logs/<app>.log`` (``shared.app_logging``) as well as to
    stderr, so IT finds a PC's logs next to its databases. The apps' windows (``GUI_COMMANDS``) open
    their own log file however they are started; here ``data`` is None for them."""
    import logging

    fmt = logging.Formatter("%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if sys.stderr is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(fmt)
        root.addHandler(console)
    if data is None:
        return None
    from shared.app_logging import log_to_file

    return log_to_file(app, data, level=logging.DEBUG if verbose else logging.INFO)


def _mark_running(app: str, args: list[str], data: Path | None = None) -> None:
    """While a window of this bundle is open, ``clinic update --apply`` refuses to migrate its database
    (``shared.update.running``); and the quiet start-up update check runs (``shared.update.startup``).
    Best effort: never stops the app from starting."""
    if not args or args[0] not in GUI_COMMANDS or "--self-test" in args or "--help" in args:
        return
    from shared.update.running import hold_running_marker
    from shared.update.startup import start_quiet_check

    folder = data or _data_folder(args)
    if folder is not None:
        hold_running_marker(folder, app)
    lang = args[args.index("--lang") + 1] if "--lang" in args[:-1] else ""
    start_quiet_check(app, lang=_language(lang))


def _language(given: str) -> str:
    from shared.i18n import normalize_language

    if given:
        return normalize_language(given)
    try:
        from shared.site import load_site_config

        return normalize_language(load_site_config().language)
    except Exception:  # noqa: BLE001 - the app reports a broken site file itself
        return normalize_language("")


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
    if default_command not in ("server", "hub"):  # servers log through uvicorn to wherever IT runs them
        data = _data_folder(args)
        own_log = args[0] in GUI_COMMANDS  # the app opens <app>.log itself (shared.gui.launch)
        _file_logging(
            default_command, None if own_log else data, verbose=bool({"-v", "--verbose"} & set(args))
        )
        _mark_running(default_command, args, data)
    return main(args)
