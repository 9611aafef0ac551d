"""What every app's ``main`` does the same way: its common options, the site settings they override, the
``--self-test`` run, and the main-window life cycle (log in, sync, idle lock, switch user, shut down)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.gc_tuning import settle_after_start
from shared.i18n import LANGUAGES, normalize_language
from shared.site import SiteConfig, load_site_config


def add_app_arguments(
    parser: argparse.ArgumentParser,
    *,
    data_help: str = "where this PC keeps its local database",
    self_test_help: str = "build the window offscreen, render this app's document, exit",
) -> None:
    """``--server``, ``--data-folder``, ``--lang`` and ``--self-test``, as every app takes them."""
    parser.add_argument(
        "--server",
        help="server URL, or several separated by commas (clinic hub first, central API second); "
        "default: the site configuration's server_url",
    )
    parser.add_argument("--data-folder", help=data_help)
    parser.add_argument("--lang", choices=LANGUAGES, help="language (default: the site configuration's)")
    parser.add_argument("--self-test", action="store_true", help=self_test_help)


def app_settings(args: argparse.Namespace, **overrides: object) -> tuple[SiteConfig, str, Path | None]:
    """The PC's site configuration with the command line's overrides (``SiteConfigError`` if it is
    invalid), the language, and the data folder (None: the platform's per-user default)."""
    site = load_site_config()
    updates: dict[str, object] = {key: value for key, value in overrides.items() if value}
    if args.server:
        urls = [url.strip() for url in str(args.server).split(",") if url.strip()]
        updates["server_url"] = urls[0] if len(urls) == 1 else urls
    if args.data_folder:
        updates["data_folder"] = args.data_folder
    site = site.model_copy(update=updates)
    lang = args.lang or normalize_language(site.language)
    folder = Path(site.data_folder).expanduser() if site.data_folder else None
    return site, lang, folder


def start_logging(app: str, folder: Path | None) -> Path | None:
    """Log to ``<data folder>/logs/<app>.log`` (``shared.app_logging``), whichever way the app started."""
    import logging

    from shared.app_logging import log_to_file
    from shared.store.paths import data_dir

    path = log_to_file(app, data_dir(folder))
    logging.getLogger(__name__).info("starting %s (log %s)", app, path)
    return path


def self_test(
    app: str,
    build_window: Callable[[], Any],
    render: Callable[[Path], Path],
    folder: Path | None,
    runtime_of: Callable[[Any], Any],
) -> int:
    """``--self-test``: ``shared.gui.selftest.run_self_test``, then every runtime it opened is shut down."""
    from shared.gui.selftest import run_self_test

    made: list[Any] = []

    def make_window() -> Any:
        window = build_window()
        made.append(window)
        return window

    code = run_self_test(app, make_window, render, data_folder=folder)
    for window in made:
        runtime_of(window).shutdown()
    return code


def open_runtime(app: str, site: SiteConfig, lang: str, folder: Path | None) -> Any:
    from shared.gui.app import ClientRuntime

    return ClientRuntime.open(
        app=app,
        server_url=site.server_urls,
        lang=lang,
        data_folder=folder,
        ca_certificate=str(Path(site.ca_certificate).expanduser()) if site.ca_certificate else "",
    )


def run_main_window(
    app: str,
    site: SiteConfig,
    lang: str,
    folder: Path | None,
    build_window: Callable[[Any], Any],
    start: Callable[[Any], None],
    *,
    before_sign_out: Callable[[Any], None] | None = None,
    should_sync: Callable[[Any], bool] | None = None,
    on_exit: Callable[[Any], None] | None = None,
) -> int:
    """An app's main window from log-in to exit: ``build_window(runtime)``, the login dialog, sync,
    ``start(window)`` (load its data), the idle lock whose "sign out" logs another user in on the same
    window, maximised, Qt's event loop; the runtime is shut down whatever happens."""
    from shared.gui.app import create_app, install_excepthook

    qt_app = create_app(sys.argv[:1], app_name=f"clinic-{app}", lang=lang)
    runtime = open_runtime(app, site, lang, folder)
    install_excepthook(runtime.bus)
    window: Any = None
    try:
        window = build_window(runtime)
        if runtime.ask_login(window) is None:
            return 0

        def begin() -> None:
            if should_sync is None or should_sync(window):
                runtime.start_sync()
            start(window)

        begin()
        lock = runtime.idle_lock(window, minutes=site.idle_lock_minutes)

        def switch_user() -> None:
            if before_sign_out is not None:
                before_sign_out(window)

            def after() -> None:
                if runtime.ask_login(window) is not None:
                    begin()
                lock.release()

            runtime.sign_out(after)

        lock.sig_sign_out_requested.connect(switch_user)
        settle_after_start()
        window.showMaximized()
        return int(qt_app.exec())
    finally:
        if on_exit is not None and window is not None:
            on_exit(window)
        runtime.shutdown()
