"""``clinic admin``: the administration window for the system administrator, the auditor and the security
administrator (clinic hubs).

    clinic admin [--server URL] [--data-folder PATH] [--lang zh_CN|en|zh_TW]
    clinic admin --self-test      # builds the window offscreen and writes the import templates

It lives in ``shared/gui/admin`` rather than in a fourth top-level app folder: the repository's layout is
fixed (three apps, shared, server_stub …) and Qt may appear only in ``shared/gui`` and the apps. It starts
like the other apps (login dialog, status bar, ``ClientRuntime``, idle lock).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from shared.gui.launch import add_app_arguments, app_settings, open_runtime, run_main_window, self_test
from shared.site import SiteConfig, SiteConfigError

log = logging.getLogger(__name__)


def add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    add_app_arguments(parser, self_test_help="build the window offscreen, write the import templates, exit")


def build_window(site: SiteConfig, lang: str, folder: Path | None, *, runtime: Any = None) -> Any:
    from shared.gui.admin.window import AdminWindow

    return AdminWindow(runtime or open_runtime("admin", site, lang, folder), lang)


def render_templates(folder: Path) -> Path:
    """The self-test's document: an empty import template (header row) for every importable kind."""
    from shared.reference_io import export
    from shared.reference_io.plan import KINDS

    for kind, spec in KINDS.items():
        export.write(folder / f"{kind}.csv", export.columns(spec), [])
    return folder / "drug.csv"


def run_admin(args: argparse.Namespace) -> int:
    try:
        site, lang, folder = app_settings(args)
    except SiteConfigError as error:
        sys.stderr.write(f"clinic admin: {error}\n")
        return 2
    if args.self_test:
        return self_test(
            "admin", lambda: build_window(site, lang, folder), render_templates, folder, lambda w: w.runtime
        )
    return run_main_window(
        "admin",
        site,
        lang,
        folder,
        lambda runtime: build_window(site, lang, folder, runtime=runtime),
        lambda window: window.start(),
        should_sync=lambda window: window.may_sync(),
    )


COMMANDS = {"admin": (add_admin_arguments, run_admin)}
