"""Network calls of the administration screens: ``run_in_background`` whose callbacks are dropped once the
screen that asked is gone (a window closed while the server was still answering)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject

from shared.gui.workers import BackgroundCall, run_in_background

T = TypeVar("T")


def error_text(error: BaseException) -> str:
    """What a refusal says to the user: a domain error's message, else the error itself."""
    return getattr(error, "message", str(error))


def call(
    owner: QObject,
    fn: Callable[[], T],
    on_success: Callable[[T], Any],
    on_failure: Callable[[BaseException], Any],
    label: str,
) -> BackgroundCall:
    """Run ``fn()`` off the GUI thread; the callbacks run on the GUI thread while ``owner`` lives."""

    def succeeded(result: T) -> None:
        if shiboken6.isValid(owner):
            on_success(result)

    def failed(error: BaseException) -> None:
        if shiboken6.isValid(owner):
            on_failure(error)

    return run_in_background(fn, on_success=succeeded, on_failure=failed, label=label)
