"""``benchmarks/hub_day.py --small`` end to end (slow: outside the default suite, ``-m slow``): a short
clinic day through a hub with the central API down, then the link restored; nothing lost or doubled and
every PC converged. No wall-clock assertion: the figures are the benchmark's business."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_small_clinic_day_through_a_hub_loses_and_doubles_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "hub_day.py"), "--small"],
        capture_output=True,
        text=True,
        timeout=1100,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "every PC converged" in out, out
    assert re.search(r"lost: 0; doubled: tickets 0, rx numbers 0, dispenses 0", out), out
    assert "pairs where the other PC never read the entry on the LAN: 0" in out, out
