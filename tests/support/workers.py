"""The suite runs in parallel workers (pytest-xdist, ``./run test`` starts two): what each worker keeps to
itself (its ports, its PostgreSQL databases) and what they make once between them (the demo database
template, the espeak-ng voice pack), behind a file lock."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def worker_name() -> str:
    """``gw0``, ``gw1``, … in an xdist worker; ``main`` in a run without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_number() -> int | None:
    """0, 1, … in an xdist worker; None in a run without workers."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else None


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder ``name`` that ``make(folder)`` fills once for the whole run: in a run with workers the
    first worker to ask makes it in the run's common temporary folder while the others wait on a file
    lock, then all of them read it (nobody writes to it afterwards). Without workers: this session's own."""
    if worker_number() is None:
        folder = factory.mktemp(name)
        make(folder)
        return folder
    common = factory.getbasetemp().parent  # the run's folder above each worker's own basetemp
    folder = common / name
    done = common / f"{name}.done"
    with FileLock(str(common / f"{name}.lock")):
        if not done.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            done.touch()
    return folder
