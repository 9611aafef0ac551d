"""What build is running: version and build metadata embedded by ``packaging/build.py`` in
``_build_info.json`` at the bundle root, or the installed package's version in a development checkout."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

BUILD_INFO_NAME = "_build_info.json"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class BuildInfo:
    """``frozen``: running from a PyInstaller bundle; ``commit``/``built_at`` are empty in a checkout."""

    app: str
    version: str
    commit: str = ""
    built_at: str = ""
    platform: str = ""
    frozen: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def version_key(version: str) -> tuple[int, int, int]:
    """``"1.10.2"`` -> ``(1, 10, 2)``; releases are plain MAJOR.MINOR.PATCH so ordering is unambiguous."""
    match = _VERSION.match(version.strip())
    if not match:
        raise ValueError(f"not a release version (MAJOR.MINOR.PATCH): {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def bundle_root() -> Path | None:
    """The folder of the frozen bundle's data (``sys._MEIPASS``), or None when not frozen."""
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if meipass else None


def current_build(app: str = "clinic") -> BuildInfo:
    root = bundle_root()
    if root is not None:
        path = root / BUILD_INFO_NAME
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return BuildInfo(
                app=str(data.get("app", app)),
                version=str(data["version"]),
                commit=str(data.get("commit", "")),
                built_at=str(data.get("built_at", "")),
                platform=str(data.get("platform", "")),
                frozen=True,
            )
    try:
        version = metadata.version("clinic-suite")
    except metadata.PackageNotFoundError:
        version = "0.0.0"
    return BuildInfo(app=app, version=version)
