"""A stand-in for the OS print system (CUPS' ``lpstat`` and ``lp`` on PATH): the one outside system here."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


@pytest.fixture
def fake_cups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``lpstat`` lists Office_A4 (the default) and Label_70x50; ``lp`` writes each job to the returned
    folder as ``<queue>-<n>.job`` with its arguments in ``<queue>-<n>.args``."""
    bin_dir = tmp_path / "fake-cups-bin"
    out = tmp_path / "cups-jobs"
    bin_dir.mkdir()
    out.mkdir()
    scripts = {
        "lpstat": '#!/bin/sh\ncase "$1" in\n  -e) printf "Label_70x50\\nOffice_A4\\n" ;;\n'
        '  -d) echo "system default destination: Office_A4" ;;\nesac\n',
        "lp": '#!/bin/sh\nqueue=default\nprev=""\n'
        'for a in "$@"; do [ "$prev" = "-d" ] && queue="$a"; prev="$a"; done\n'
        f'n=$(ls "{out}" | wc -l)\nprintf "%s " "$@" > "{out}/$queue-$n.args"\ncat > "{out}/$queue-$n.job"\n',
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text, encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return out
