"""The quiet update check at start-up: off the GUI thread, never in the way.

The frozen launcher starts it for every app window (``start_quiet_check``); an app that wants to show
the result subscribes once, with a Qt signal's ``emit`` so the message reaches the GUI thread::

    from shared.update.startup import on_update_available
    on_update_available(lambda result: relay.sig_update_available.emit(result.message))

Listeners are called from the worker thread only when a newer verified release exists. Nothing happens in a
development checkout, without ``update_mirror`` in the site configuration, or with
``update_check_at_start = false``; failures are logged, never raised. The TUF client is imported on the
worker thread, so the check adds nothing to start-up time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.update.client import CheckResult

log = logging.getLogger(__name__)


def quiet_check(app: str, *, lang: str = "zh_CN") -> CheckResult | None:
    """The start-up check: None when this is not an installed build, no mirror is configured, or
    anything goes wrong (logged, never raised). Blocking: run it off the GUI thread."""
    try:
        from shared.site import load_site_config
        from shared.store.paths import data_dir
        from shared.update.client import Installation, UpdateClient

        install = Installation.of_running_build(app)
        site = load_site_config()
        if install is None or not site.update_mirror or not site.update_check_at_start:
            return None
        client = UpdateClient(
            install,
            site.update_mirror,
            data_folder=data_dir(site.data_folder or None),
            ca_certificate=site.ca_certificate,
            timeout=10.0,
            lang=lang,
        )
        return client.check()
    except Exception as exc:  # noqa: BLE001 - a start-up check never stops the app
        log.warning("update check failed: %s", exc)
        return None


_lock = threading.Lock()
_available: list[CheckResult] = []  # the newer release found by this process's start-up check
_listeners: list[Callable[[CheckResult], None]] = []


def on_update_available(callback: Callable[[CheckResult], None]) -> None:
    """Call ``callback(result)`` once a start-up check of this process finds a newer release, at once if
    it already has. Called from the checking thread (or the caller's): pass a Qt signal's ``emit``."""
    with _lock:
        found = list(_available)
        if not found:
            _listeners.append(callback)
    if found:
        callback(found[0])


def _publish(result: CheckResult) -> None:
    with _lock:
        _available[:] = [result]
        listeners = list(_listeners)
        _listeners.clear()
    log.info("%s", result.message)
    for callback in listeners:
        try:
            callback(result)
        except Exception:  # noqa: BLE001 - a listener's failure never breaks the check
            log.exception("update notice listener failed")


def start_quiet_check(
    app: str, on_result: Callable[[CheckResult], None] | None = None, *, lang: str = "zh_CN"
) -> threading.Thread:
    """Run ``quiet_check`` on a daemon thread; when a newer release is available, call ``on_result``
    (from that thread) and every ``on_update_available`` listener. The frozen launcher starts it for
    every app window, so an app only subscribes with ``on_update_available``."""
    if on_result is not None:
        on_update_available(on_result)

    def work() -> None:
        result = quiet_check(app, lang=lang)
        if result is not None and result.available is not None:
            _publish(result)

    thread = threading.Thread(target=work, name=f"update-check-{app}", daemon=True)
    thread.start()
    return thread
