"""What goes into each PyInstaller one-folder bundle; the ``clinic-*.spec`` files call ``bundle()``.

Run through ``packaging/build.py`` (which writes ``_build_info.json``, the icon and the options below
into ``$CLINIC_BUILD_DIR``), not by calling pyinstaller on a spec directly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PyInstaller.building.api import COLLECT, EXE, PYZ
from PyInstaller.building.build_main import Analysis
from PyInstaller.utils.hooks import collect_data_files, collect_submodules

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"

# What each bundle contains besides its own package: the modules ``shared.cli`` imports lazily.
APPS: dict[str, dict[str, object]] = {
    "server": {"packages": ["server_stub"], "qt": False},
    # the clinic hub: its own package and the feed's field views, no database layer of the central API
    "hub": {"packages": ["server_stub.hub"], "qt": False},
    "triage": {"packages": ["triage_desk"], "qt": True},
    "workstation": {"packages": ["workstation"], "qt": True},
    "pharmacy": {"packages": ["pharmacy_desk"], "qt": True},
}
CLIENT_MODULES = ["shared.sync.report", "shared.audio.cli", "shared.gui.selftest"]
COMMON_MODULES = [
    "shared.update.cli",
    "shared.update.client",
    "shared.update.startup",
    "shared.update.local_data",
    "shared.config_cli",
    "shared.site",
]
APP_PACKAGES = ["triage_desk", "workstation", "pharmacy_desk"]


def _options() -> dict[str, object]:
    build_dir = os.environ.get("CLINIC_BUILD_DIR")
    if not build_dir:
        raise SystemExit("run the specs through packaging/build.py (CLINIC_BUILD_DIR is not set)")
    return json.loads((Path(build_dir) / "options.json").read_text(encoding="utf-8"))


def bundle(app: str) -> COLLECT:
    options = _options()
    spec = APPS[app]
    qt = bool(spec["qt"])
    hidden: list[str] = [*COMMON_MODULES] if qt else ["shared.config_cli", "shared.site"]
    for package in spec["packages"]:  # type: ignore[union-attr]
        hidden += collect_submodules(package)
    datas: list[tuple[str, str]] = [
        (options["build_info"], "."),
        *collect_data_files("shared.demo_data"),
    ]
    if options.get("trusted_root"):
        datas.append((options["trusted_root"], "update"))
    excludes = ["tkinter", "pytest", "hypothesis", "schemathesis", "mypy", "IPython"]
    if app in ("server", "hub"):
        hidden += collect_submodules("uvicorn")
        if app == "server":
            hidden += [
                "server_stub.app",
                "sqlalchemy.dialects.sqlite",
                "sqlalchemy.dialects.postgresql",
                "psycopg",
            ]
            datas.append((str(ROOT / "server_stub" / "migrations"), "server_stub/migrations"))
        else:
            hidden += ["server_stub.services.feed_views", "argon2"]
        excludes += ["PySide6", "shared.gui", "shared.store", "shared.sync", *APP_PACKAGES]
        # The server is updated by installing its new bundle (it migrates its database when it starts);
        # the PC updater (TUF client, local databases) is for the apps.
        excludes += [
            "shared.update.cli",
            "shared.update.client",
            "shared.update.local_data",
            "shared.update.startup",
        ]
    else:
        hidden += CLIENT_MODULES
        # reportlab loads barcode symbologies by name (createBarcodeDrawing("Code128")): collect them all.
        hidden += collect_submodules("reportlab.graphics.barcode")
        datas.append((str(ROOT / "shared" / "audio" / "packs"), "shared/audio/packs"))
        for font in options.get("fonts", []):
            datas.append((font, "fonts"))
        excludes += ["server_stub", *[p for p in APP_PACKAGES if p not in spec["packages"]]]  # type: ignore[operator]
        # The server's web stack is pulled in by optional imports only; the apps never run it.
        excludes += [
            "uvicorn",
            "uvloop",
            "httptools",
            "watchfiles",
            "websockets",
            "yaml",
            "fastapi",
            "starlette",
        ]
    name = f"clinic-{app}"
    analysis = Analysis(
        [str(PACKAGING / "entries" / f"{name}.py")],
        pathex=[str(ROOT)],
        hiddenimports=hidden,
        datas=datas,
        excludes=excludes,
        noarchive=False,
    )
    pyz = PYZ(analysis.pure)
    exe = EXE(
        pyz,
        analysis.scripts,
        [],
        exclude_binaries=True,
        name=name,
        console=not qt or bool(options.get("console", True)),
        icon=options.get("icon") or None,
        version=options.get("version_file") or None,
        upx=False,
        strip=False,
    )
    return COLLECT(exe, analysis.binaries, analysis.datas, name=name, upx=False, strip=False)
