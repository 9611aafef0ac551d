"""One description of the machine a benchmark ran on, for every script's output and RESULTS.md."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
from pathlib import Path


def describe() -> str:
    """OS, CPU model, cores, memory, Python and SQLite versions."""
    cpu = platform.processor() or platform.machine()
    mem_gib = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
                break
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {mem_gib:.1f} GiB RAM, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
