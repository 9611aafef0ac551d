"""``clinic pharmacy``: the pharmacist's desk (review, dispensing, refunds and delivery, stock, printers).

    clinic pharmacy [--server URL] [--data-folder PATH] [--lang zh_CN|en|zh_TW] [--pharmacy CODE]
    clinic pharmacy --self-test        # builds the window offscreen and renders a drug label PDF

Options override the PC's site configuration (``shared.site``): server URL, data folder, language,
the pharmacy served and the printers per document kind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from shared import clinic_time
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

APP = "pharmacy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_app_arguments(
        parser,
        data_help="where this PC keeps its local database and print spool",
        self_test_help="build the window offscreen, render a label, exit",
    )
    parser.add_argument(
        "--pharmacy", help="pharmacy code this desk serves (default: the site configuration's)"
    )


def render_sample_label(folder: Path) -> Path:
    """The self-test's document: a drug label PDF with built-in sample data."""
    from pharmacy_desk.documents import labels_pdf, sample_label

    path = folder / "drug_label_selftest.pdf"
    path.write_bytes(labels_pdf([sample_label(clinic_time.today())]))
    return path


def build_window(site: SiteConfig, lang: str, data_folder: Path | None, *, runtime: Any = None) -> Any:
    """The main window with its runtime (no server contact, nobody logged in yet)."""
    from pharmacy_desk.desk import DeskState, PharmacyWindow
    from shared.store.paths import data_dir

    folder = data_dir(data_folder)
    rt = runtime or open_runtime(APP, site, lang, folder)
    return PharmacyWindow(DeskState(rt, site=site, data_folder=Path(folder), lang=lang))


def run(args: argparse.Namespace) -> int:
    try:
        site, lang, folder = app_settings(args, pharmacy=getattr(args, "pharmacy", None))
    except SiteConfigError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 2
    start_logging(APP, folder)
    if args.self_test:
        return self_test(
            APP,
            lambda: build_window(site, lang, folder),
            render_sample_label,
            folder,
            lambda window: window.state.runtime,
        )
    return run_main_window(
        APP,
        site,
        lang,
        folder,
        lambda runtime: build_window(site, lang, folder, runtime=runtime),
        lambda window: window.load_pharmacies(),
    )


COMMANDS = {"pharmacy": (add_arguments, run)}
