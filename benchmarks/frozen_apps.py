"""Frozen bundles: size on disk and start-up time of each PyInstaller one-folder build.

    .venv/bin/python benchmarks/frozen_apps.py [--build] [--dist DIR] [--runs 3]

``--build`` builds every app that exists plus the server first (packaging/build.py, ~1 min each on
2 cores). Then for each bundle: its size (all files) and file count; a cold start (the bundle's files
evicted from the page cache first, as after a reboot) and the median of ``--runs`` later starts (warm). An app's start is a
full ``--self-test`` (open/create and migrate its database, build the main window offscreen, render one
document, exit); the server's is process start to the first ``/healthz`` 200 on a new SQLite database
(migrations included).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe  # noqa: E402


def _build_script():  # packaging/ is not a package (it would shadow the "packaging" library)
    spec = importlib.util.spec_from_file_location("clinic_build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["clinic_build"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def evict(bundle: Path) -> None:
    """Drop the bundle's files from the page cache (POSIX_FADV_DONTNEED) so the next start reads them
    from disk, as after a reboot; system libraries and fonts outside the bundle stay cached."""
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _start_seconds(build, app: str, bundle: Path, scratch: Path) -> float:
    if app == "server":
        db = scratch / f"server-{time.monotonic_ns()}.db"
        return float(build.server_health(bundle, db)["seconds"])
    folder = scratch / f"data-{time.monotonic_ns()}"
    return float(build.app_self_test(bundle, folder)["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    build = _build_script()
    apps = [a for a in build.APPS if build.app_available(a)]
    build_seconds: dict[str, float] = {}
    if args.build:
        for app in apps:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "packaging" / "build.py"), app, "--dist", str(args.dist)],
                check=True,
                cwd=ROOT,
            )
            build_seconds[app] = time.perf_counter() - started
    print(f"Machine: {describe()}")
    print(f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"| bundle | size | files | build | cold start | warm start (median of {args.runs}) |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="clinic-frozen-bench-") as tmp:
        scratch = Path(tmp)
        for app in apps:
            bundle = args.dist / f"clinic-{app}"
            if not bundle.is_dir():
                print(f"| clinic-{app} | not built | | | | |")
                continue
            size = build.bundle_bytes(bundle)
            files = sum(1 for p in bundle.rglob("*") if p.is_file())
            evict(bundle)
            first = _start_seconds(build, app, bundle, scratch)
            warm = statistics.median(_start_seconds(build, app, bundle, scratch) for _ in range(args.runs))
            built = f"{build_seconds[app]:.0f} s" if app in build_seconds else "-"
            print(
                f"| clinic-{app} | {size / 1024 / 1024:.0f} MiB | {files} | {built} | {first:.2f} s | {warm:.2f} s |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
