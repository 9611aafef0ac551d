"""``clinic workstation``: the doctor's workstation (day view, consultation, prescribing, signing, printing).

    clinic workstation [--server URL] [--data-folder PATH] [--lang zh_CN|en|zh_TW]
    clinic workstation --self-test     # builds the window offscreen and renders a sample prescription PDF

Options override the PC's site configuration (``shared.site``): server URL, data folder, language; the
site's ``rooms`` (room codes this PC serves), ``pharmacy`` and ``printers["prescription"]`` /
``printers["visit_note"]`` are used as they are.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from shared.i18n import LANGUAGES, normalize_language
from shared.site import SiteConfig, SiteConfigError, load_site_config

log = logging.getLogger(__name__)

APP = "workstation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", help="central API URL (default: the site configuration's server_url)")
    parser.add_argument("--data-folder", help="where this PC keeps its local database, key and prints")
    parser.add_argument("--lang", choices=LANGUAGES, help="language (default: the site configuration's)")
    parser.add_argument(
        "--self-test", action="store_true", help="build the window offscreen, render a prescription, exit"
    )


def settings(args: argparse.Namespace) -> tuple[SiteConfig, str, Path | None]:
    site = load_site_config()
    updates: dict[str, object] = {}
    if args.server:
        updates["server_url"] = args.server
    if args.data_folder:
        updates["data_folder"] = args.data_folder
    site = site.model_copy(update=updates)
    lang = args.lang or normalize_language(site.language)
    folder = Path(site.data_folder).expanduser() if site.data_folder else None
    return site, lang, folder


def render_sample_prescription(folder: Path) -> Path:
    """The self-test's document: an A5 prescription PDF from built-in sample data."""
    from workstation.documents import render_sample

    return render_sample(folder)


def build_window(
    site: SiteConfig, lang: str, data_folder: Path | None, *, runtime: object | None = None
) -> object:
    """The main window with its runtime (no server contact, nobody logged in yet)."""
    from shared.gui.app import ClientRuntime
    from shared.store.paths import data_dir
    from workstation.state import WorkState
    from workstation.window import WorkstationWindow

    folder = data_dir(data_folder)
    rt = runtime or ClientRuntime.open(app=APP, server_url=site.server_url, lang=lang, data_folder=folder)
    state = WorkState(rt, site=site, data_folder=Path(folder), lang=lang)  # type: ignore[arg-type]
    return WorkstationWindow(state)


def run(args: argparse.Namespace) -> int:
    try:
        site, lang, folder = settings(args)
    except SiteConfigError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 2
    if args.self_test:
        from shared.gui.selftest import run_self_test

        made: list[object] = []

        def make_window() -> object:
            window = build_window(site, lang, folder)
            made.append(window)
            return window

        code = run_self_test(APP, make_window, render_sample_prescription, data_folder=folder)
        for window in made:
            window.state.runtime.shutdown()  # type: ignore[attr-defined]
        return code
    return _run_gui(site, lang, folder)


def _run_gui(site: SiteConfig, lang: str, folder: Path | None) -> int:
    from shared.gui.app import ClientRuntime, create_app, install_excepthook

    qt_app = create_app(sys.argv[:1], app_name="clinic-workstation", lang=lang)
    runtime = ClientRuntime.open(app=APP, server_url=site.server_url, lang=lang, data_folder=folder)
    install_excepthook(runtime.bus)
    window = build_window(site, lang, folder, runtime=runtime)
    try:
        if runtime.ask_login(window) is None:  # type: ignore[arg-type]
            return 0
        runtime.start_sync()
        window.start()  # type: ignore[attr-defined]
        lock = runtime.idle_lock(window, minutes=site.idle_lock_minutes)  # type: ignore[arg-type]

        def switch_user() -> None:
            window.state.forget_pin()  # type: ignore[attr-defined]

            def after() -> None:
                if runtime.ask_login(window) is not None:  # type: ignore[arg-type]
                    runtime.start_sync()
                    window.start()  # type: ignore[attr-defined]
                lock.release()

            runtime.sign_out(after)

        lock.sig_sign_out_requested.connect(switch_user)
        window.showMaximized()  # type: ignore[attr-defined]
        return int(qt_app.exec())
    finally:
        runtime.shutdown()


COMMANDS = {"workstation": (add_arguments, run)}
