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
from typing import Any

from shared.gui.launch import (
    add_app_arguments,
    app_settings,
    open_runtime,
    run_main_window,
    self_test,
    start_logging,
)
from shared.site import SiteConfig, SiteConfigError

log = logging.getLogger(__name__)

APP = "workstation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_app_arguments(
        parser,
        data_help="where this PC keeps its local database, key and prints",
        self_test_help="build the window offscreen, render a prescription, exit",
    )


def render_sample_prescription(folder: Path) -> Path:
    """The self-test's document: an A5 prescription PDF from built-in sample data."""
    from workstation.documents import render_sample

    return render_sample(folder)


def build_window(site: SiteConfig, lang: str, data_folder: Path | None, *, runtime: Any = None) -> Any:
    """The main window with its runtime (no server contact, nobody logged in yet)."""
    from shared.store.paths import data_dir
    from workstation.state import WorkState
    from workstation.window import WorkstationWindow

    folder = data_dir(data_folder)
    rt = runtime or open_runtime(APP, site, lang, folder)
    return WorkstationWindow(WorkState(rt, site=site, data_folder=Path(folder), lang=lang))


def run(args: argparse.Namespace) -> int:
    try:
        site, lang, folder = app_settings(args)
    except SiteConfigError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 2
    start_logging(APP, folder)
    if args.self_test:
        return self_test(
            APP,
            lambda: build_window(site, lang, folder),
            render_sample_prescription,
            folder,
            lambda window: window.state.runtime,
        )
    return run_main_window(
        APP,
        site,
        lang,
        folder,
        lambda runtime: build_window(site, lang, folder, runtime=runtime),
        lambda window: window.start(),
        before_sign_out=lambda window: window.state.forget_pin(),
    )


COMMANDS = {"workstation": (add_arguments, run)}
