"""``clinic triage``, ``clinic kiosk`` and ``clinic display``: the nurse's desk, the self check-in kiosk and
the waiting-room display.

    clinic triage  [--server URL] [--data-folder PATH] [--lang zh_CN|en|zh_TW] [--kiosk] [--desk-slot N]
    clinic kiosk   [--server URL] [--data-folder PATH] [--lang ...] [--windowed]
    clinic display [--server URL] [--data-folder PATH] [--lang ...] [--windowed] [--screen NAME]
                   [--queues CODE ...] [--english] [--silent]
    clinic triage --self-test      # builds the window offscreen and writes a ticket slip (ESC/POS bytes)
    clinic kiosk --self-test       # the same for the kiosk window
    clinic display --self-test     # builds the display offscreen and renders a sample call to a WAV

Options override the PC's site configuration (``shared.site``): ``server_url``, ``data_folder``,
``language``, ``queue_desk_slot`` (the ticket-number slot this desk wishes for; the server assigns), ``printers.ticket``, ``display.*``
(screen_name, full_screen, queue_codes, theme) and ``voice.*`` (pack, engine, repeat).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from shared import clinic_time
from shared.domain.queue_numbers import desk_slot_problem, slot_message
from shared.gui.launch import (
    add_app_arguments,
    app_settings,
    open_runtime,
    run_main_window,
    self_test,
    start_logging,
)
from shared.site import SiteConfig, SiteConfigError, load_site_config

log = logging.getLogger(__name__)


def _common(parser: argparse.ArgumentParser) -> None:
    add_app_arguments(parser, self_test_help="build the window offscreen, write a slip, exit")


def add_triage_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--kiosk", action="store_true", help="run as the self check-in kiosk")
    parser.add_argument(
        "--desk-slot",
        type=int,
        help="the ticket-number slot this desk wishes for (queue_desk_slot: 1 … number_slots-1); the server "
        "gives it this one when free, else another of its own",
    )
    parser.add_argument(
        "--windowed", action="store_true", help="kiosk: a normal window instead of full screen"
    )


def add_kiosk_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--windowed", action="store_true", help="a normal window instead of full screen")


def add_display_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--windowed", action="store_true", help="a normal window instead of full screen")
    parser.add_argument("--screen", help="the monitor to use (QScreen name; default: display.screen_name)")
    parser.add_argument(
        "--queues", nargs="*", help="queue codes to show (default: display.queue_codes or all)"
    )
    parser.add_argument("--english", action="store_true", help="show English lines under the Chinese")
    parser.add_argument("--silent", action="store_true", help="no voice (display only)")


def render_sample_slip(folder: Path) -> Path:
    """The self-test's document: a ticket slip's ESC/POS bytes with built-in sample data."""
    from shared.printing.ticket import ticket_escpos
    from triage_desk.slip import sample_slip

    path = folder / "ticket_selftest.bin"
    path.write_bytes(ticket_escpos(sample_slip(clinic_time.now()), mode="text"))
    return path


def render_sample_announcement(folder: Path) -> Path:
    """The display's self-test document: a sample call rendered to a WAV with this PC's voice pack."""
    from shared.audio import Announcement, Composer, ComposeSettings, VoicePack

    site = load_site_config()
    pack_path = Path(site.voice.pack).expanduser()
    pack = VoicePack.load(pack_path) if (pack_path / "manifest.json").is_file() else VoicePack.default()
    path = folder / "announcement_selftest.wav"
    settings = ComposeSettings(repeat=1, volume=site.voice.volume)
    Composer(pack, settings).render(Announcement("A023", "3诊室")).write_wav(path)
    return path


def build_window(kind: str, site: SiteConfig, lang: str, folder: Path | None, *, runtime: Any = None) -> Any:
    """The main window of ``kind`` (triage / kiosk / display) with its runtime; no server contact."""
    from triage_desk.state import TriageState

    runtime = runtime or open_runtime(kind, site, lang, folder)
    state = TriageState(runtime, site=site, lang=lang)
    if kind in ("triage", "kiosk"):
        # at every online login the server gives this PC its own ticket-number slot (``queue_numbers``)
        state.ask_for_desk_slot()
    if kind == "kiosk":
        from triage_desk.kiosk import KioskWindow

        window: Any = KioskWindow(state)
    elif kind == "display":
        from triage_desk.display import DisplayWindow

        window = DisplayWindow(lang, theme=site.display.theme)
    else:
        from triage_desk.window import TriageWindow

        window = TriageWindow(state, open_display=lambda: open_display_here(state))
    window.triage_state = state
    return window


def open_display_here(state: Any, *, player: Any = None) -> Any:
    """The waiting-room display in the nurse app's own process: calls made here reach it even offline."""
    from PySide6.QtGui import QGuiApplication

    from triage_desk.display import DisplayController, DisplayWindow, ScreenKeeper, make_announcer
    from triage_desk.model import hospital_name

    existing = getattr(state, "display_window", None)
    if existing is not None:
        existing.show()
        existing.raise_()
        return existing
    site = state.site
    window = DisplayWindow(
        state.lang,
        theme=site.display.theme,
        english=site.display.english,
        hospital=hospital_name(state.runtime.store, state.campus_id),
    )
    controller = DisplayController(
        state, window, announcer=make_announcer(site, player=player), codes=site.display.queue_codes
    )
    full = site.display.full_screen and len(QGuiApplication.screens()) > 1
    window.keeper = ScreenKeeper(window, preferred=site.display.screen_name, full_screen=full)
    window.controller = controller
    window.keeper.place()
    controller.refresh()
    state.display_window = window
    return window


def _needs_login(runtime: Any) -> bool:
    from shared.sync.status import SyncState

    return runtime.store.session() is None or runtime.engine.status().state in (
        SyncState.NOT_LOGGED_IN,
        SyncState.AUTH_EXPIRED,
    )


def _run_gui(kind: str, args: argparse.Namespace, site: SiteConfig, lang: str, folder: Path | None) -> int:
    if kind == "display":
        return _run_display(args, site, lang, folder)
    if kind == "kiosk":
        return _run_kiosk(args, site, lang, folder)
    return run_main_window(
        kind,
        site,
        lang,
        folder,
        lambda runtime: build_window(kind, site, lang, folder, runtime=runtime),
        lambda window: window.load(),
        should_sync=_may_sync,
        on_exit=_close_windows,
    )


def _may_sync(window: Any) -> bool:
    """A kiosk account may not sync: it works online only."""
    from triage_desk.kiosk import is_kiosk_account

    return not is_kiosk_account(window.triage_state)


def _close_windows(window: Any) -> None:
    """No timer of a closed window (the desk's, or the display it opened) may reach the stopped runtime."""
    display = getattr(window.triage_state, "display_window", None)
    if display is not None:
        display.controller.stop()
    for made in (display, window):
        if made is not None:
            made.close()
            made.deleteLater()


def _run_kiosk(args: argparse.Namespace, site: SiteConfig, lang: str, folder: Path | None) -> int:
    from shared.gui.app import create_app, install_excepthook

    qt_app = create_app(sys.argv[:1], app_name="clinic-kiosk", lang=lang)
    runtime = open_runtime("kiosk", site, lang, folder)
    install_excepthook(runtime.bus)
    window: Any = None
    try:
        window = build_window("kiosk", site, lang, folder, runtime=runtime)
        if runtime.ask_login(window) is None:
            return 0
        if _may_sync(window):
            runtime.start_sync()
        if args.windowed:
            window.resize(1024, 768)
            window.show()
        else:
            window.showFullScreen()
        window.reset()
        return int(qt_app.exec())
    finally:
        if window is not None:
            _close_windows(window)
        runtime.shutdown()


def _run_display(args: argparse.Namespace, site: SiteConfig, lang: str, folder: Path | None) -> int:
    """A PC that only follows the server: log in once (a nurse or kiosk account); the token is kept."""
    from shared.gui.app import create_app, install_excepthook

    qt_app = create_app(sys.argv[:1], app_name="clinic-display", lang=lang)
    runtime = open_runtime("display", site, lang, folder)
    install_excepthook(runtime.bus)
    try:
        return _follow_server(qt_app, runtime, args, site, lang)
    finally:
        runtime.shutdown()


def _follow_server(qt_app: Any, runtime: Any, args: argparse.Namespace, site: SiteConfig, lang: str) -> int:
    from triage_desk.display import DisplayController, DisplayWindow, ScreenKeeper, make_announcer
    from triage_desk.model import hospital_name
    from triage_desk.state import TriageState

    state = TriageState(runtime, site=site, lang=lang)
    english = args.english or site.display.english
    window = DisplayWindow(lang, theme=site.display.theme, english=english)
    if _needs_login(runtime) and runtime.ask_login(window) is None:
        return 0
    runtime.start_sync()
    window.hospital_label.setText(hospital_name(runtime.store, state.campus_id))
    announcer = None if args.silent else make_announcer(site)
    codes = args.queues if args.queues else site.display.queue_codes
    controller = DisplayController(state, window, announcer=announcer, codes=codes)
    keeper = ScreenKeeper(
        window,
        preferred=args.screen or site.display.screen_name,
        full_screen=site.display.full_screen and not args.windowed,
    )
    window.keeper, window.controller = keeper, controller
    keeper.place()
    controller.refresh()
    try:
        return int(qt_app.exec())
    finally:
        controller.stop()
        window.close()
        window.deleteLater()


def run_triage(args: argparse.Namespace) -> int:
    return _run("kiosk" if args.kiosk else "triage", args)


def run_kiosk(args: argparse.Namespace) -> int:
    return _run("kiosk", args)


def run_display(args: argparse.Namespace) -> int:
    return _run("display", args)


def _run(kind: str, args: argparse.Namespace) -> int:
    try:
        site, lang, folder = app_settings(args)
    except SiteConfigError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 2
    start_logging(kind, folder)
    if getattr(args, "desk_slot", None) is not None:
        site = site.model_copy(update={"queue_desk_slot": args.desk_slot})
    problem = desk_slot_problem(site.queue_desk_slot)
    if "queue_desk_slot" not in site.model_fields_set and getattr(args, "desk_slot", None) is None:
        problem = None  # no wish: the server gives this desk a free slot at its online login
    if kind == "triage" and problem is not None and not args.self_test:
        # a desk without its own slot would print numbers another desk (or the server) prints too
        sys.stderr.write("queue_desk_slot: " + slot_message(problem, site.queue_desk_slot, lang) + "\n")
        return 2
    if args.self_test:
        render = render_sample_announcement if kind == "display" else render_sample_slip
        return self_test(
            kind,
            lambda: build_window(kind, site, lang, folder),
            render,
            folder,
            lambda window: window.triage_state.runtime,
        )
    return _run_gui(kind, args, site, lang, folder)


COMMANDS = {
    "triage": (add_triage_arguments, run_triage),
    "kiosk": (add_kiosk_arguments, run_kiosk),
    "display": (add_display_arguments, run_display),
}
