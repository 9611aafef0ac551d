"""``clinic <app>`` logs to ``<data folder>/logs/<app>.log`` however it is started (not only when frozen)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from shared.app_logging import log_to_file


@pytest.mark.parametrize("app", ["workstation", "pharmacy", "triage"])
def test_each_app_started_from_the_command_line_writes_its_log_file(tmp_path: Path, app: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", app, "--self-test", "--data-folder", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = (tmp_path / "logs" / f"{app}.log").read_text(encoding="utf-8")
    assert f"starting {app}" in text


def test_a_second_call_for_the_same_file_adds_no_second_handler(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        first = log_to_file("pharmacy", tmp_path)
        second = log_to_file("pharmacy", tmp_path)
        added = [h for h in root.handlers if h not in before]
        assert first == second == tmp_path / "logs" / "pharmacy.log"
        assert len(added) == 1 and isinstance(added[0], RotatingFileHandler)
        assert added[0].maxBytes == 5 * 1024 * 1024 and added[0].backupCount == 5
        logging.getLogger("tests").warning("一行日志")
        added[0].flush()
        assert "一行日志" in first.read_text(encoding="utf-8")
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
