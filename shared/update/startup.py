"""The start-up update check every app can call: quiet, off the GUI thread, never in the way.

    from shared.update.startup import start_quiet_check
    start_quiet_check("triage", self.sig_update_available.emit, lang=lang)   # once, after the window shows

``on_result(CheckResult)`` is called from a worker thread only when a newer verified release exists, so
pass a Qt signal's ``emit`` and show ``result.message`` in the status bar. Nothing happens in a
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


def start_quiet_check(
    app: str, on_result: Callable[[CheckResult], None], *, lang: str = "zh_CN"
) -> threading.Thread:
    """Run ``quiet_check`` on a daemon thread and call ``on_result`` (from that thread) only when a newer
    release is available. A Qt app passes a signal's ``emit`` so the status bar updates on the GUI thread."""

    def work() -> None:
        result = quiet_check(app, lang=lang)
        if result is not None and result.available is not None:
            on_result(result)

    thread = threading.Thread(target=work, name=f"update-check-{app}", daemon=True)
    thread.start()
    return thread
