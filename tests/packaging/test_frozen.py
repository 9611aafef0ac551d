"""Frozen builds, for real: PyInstaller builds the server and ONE app (triage, else whichever app exists)
once for this module (about 2-3 minutes on 2 cores), then the frozen server answers ``/healthz`` on a free
loopback port with a freshly migrated database and the frozen app passes its ``--self-test``.

``./run build`` builds all four; this module keeps CI to one app so the suite stays in budget.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.frozen, pytest.mark.timeout(1200)]


def load_build_script() -> ModuleType:
    # packaging/ is not a Python package (its name would shadow the "packaging" library): load by path.
    spec = importlib.util.spec_from_file_location("clinic_build", ROOT / "packaging" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["clinic_build"] = module
    spec.loader.exec_module(module)
    return module


build_script = load_build_script()


def frozen_app() -> str:
    for app in ("triage", "pharmacy", "workstation"):
        if build_script.app_available(app):
            return app
    pytest.fail("no app has a main.py yet: nothing to freeze")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frozen")
    app = frozen_app()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build.py"),
            "server",
            app,
            "--dist",
            str(folder / "dist"),
            "--work",
            str(folder / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=1100,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    sys.stderr.write(f"frozen server + {app} built in {time.perf_counter() - started:.0f} s\n")
    return {
        "server": folder / "dist" / "clinic-server",
        app: folder / "dist" / f"clinic-{app}",
        "_app": app,
        "_tmp": folder,
    }  # type: ignore[dict-item]


def test_the_frozen_server_migrates_a_new_database_and_answers_healthz(bundles: dict[str, Path]) -> None:
    db = bundles["_tmp"] / "server.db"
    answer = build_script.server_health(bundles["server"], db)
    assert answer["status"] == 200
    assert answer["body"]["status"] == "ok" and answer["body"]["database"] == "sqlite"
    assert db.exists()  # created and migrated by the frozen server (the migrations ship as data)


def test_the_frozen_app_passes_its_self_test(bundles: dict[str, Path]) -> None:
    app = bundles["_app"]
    data = bundles["_tmp"] / "data"
    result = build_script.app_self_test(bundles[app], data)
    report = result["report"]
    assert report["ok"] is True and report["document_bytes"] > 0
    assert Path(report["database"]).exists() and Path(report["database"]).parent == data
    document = Path(report["document"])
    if document.suffix == ".pdf":  # workstation prescription / pharmacy label: Chinese text, embedded font
        from pypdf import PdfReader

        assert "处方" in PdfReader(document).pages[0].extract_text() or app == "pharmacy"
        fonts = subprocess.run(["pdffonts", str(document)], capture_output=True, text=True).stdout
        assert "WenQuanYi" in fonts or "Noto" in fonts
    else:  # triage: an ESC/POS ticket slip
        from shared.printing.escpos_decode import decode

        lines = decode(document.read_bytes()).lines
        assert "您的排队号" in lines and any(line[:1].isalpha() and line[1:].isdigit() for line in lines)


def test_the_bundles_carry_their_version_and_build_metadata(bundles: dict[str, Path]) -> None:
    for name in ("server", bundles["_app"]):
        exe = build_script.executable(bundles[name])
        proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
        info = json.loads(proc.stdout)
        assert info["frozen"] is True and info["app"] == name
        assert info["version"] == build_script.project_version() and info["built_at"]
        embedded = json.loads((bundles[name] / "_internal" / "_build_info.json").read_text())
        assert embedded["version"] == info["version"] and embedded["platform"] == build_script.platform_tag()


def test_the_frozen_app_answers_config_check_and_update(bundles: dict[str, Path], tmp_path: Path) -> None:
    exe = build_script.executable(bundles[bundles["_app"]])
    env = {**os.environ, "CLINIC_USER_CONFIG": str(tmp_path / "user.toml")}
    check = subprocess.run(
        [
            str(exe),
            "config",
            "check",
            "--file",
            str(ROOT / "packaging" / "site.example.toml"),
            "--lang",
            "en",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert check.returncode == 1 and "the CA certificate file does not exist" in check.stdout
    update = subprocess.run(
        [str(exe), "update", "--check", "--lang", "en"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "CLINIC_SITE_CONFIG": str(tmp_path / "none.toml")},
    )
    # Built into dist/, not installed under versions/: the updater says so instead of touching anything.
    assert update.returncode == 1 and "not an installed build" in update.stderr
    server_exe = str(build_script.executable(bundles["server"]))
    server = subprocess.run([server_exe, "triage"], capture_output=True, text=True, timeout=60)
    assert server.returncode == 2 and "does not include the 'triage' command" in server.stderr
    # The server is updated by installing its new bundle; the PC updater ships only in the apps.
    server = subprocess.run([server_exe, "update", "--check"], capture_output=True, text=True, timeout=60)
    assert server.returncode == 2 and "does not include the 'update' command" in server.stderr
    server = subprocess.run(
        [server_exe, "config", "check", "--file", str(tmp_path / "absent.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert server.returncode == 2


def test_the_installed_frozen_app_updates_itself_from_a_signed_mirror(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    """install_linux.sh installs the real frozen bundle (its self-test runs first); then the bundle's own
    ``update`` command verifies a newer release on a loopback TUF mirror, installs it beside itself,
    self-tests it and switches, keeping the frozen version to roll back to."""
    from shared.store.schema import MIGRATIONS
    from shared.update.repository import add_release, create_keys, init_repository, publish
    from tests.packaging.support import MirrorServer, fake_release

    app = bundles["_app"]
    version = build_script.project_version()
    keys, repo, mirror, data = tmp_path / "keys", tmp_path / "repo", tmp_path / "mirror", tmp_path / "data"
    create_keys(keys)
    init_repository(repo, keys)
    archive = build_script.archive(bundles[app], version, tmp_path)
    installed = subprocess.run(
        [
            "bash",
            str(ROOT / "packaging" / "install_linux.sh"),
            str(archive),
            "--prefix",
            str(tmp_path / "opt"),
        ]
        + [
            "--bin-dir",
            "",
            "--trusted-root",
            str(repo / "metadata" / "1.root.json"),
            "--data-folder",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    root = tmp_path / "opt" / app
    major, minor, patch = (int(p) for p in version.split("."))
    newer = f"{major}.{minor}.{patch + 1}"
    # a tiny stand-in for the next build, at the local database schema the installed one left behind
    fake = fake_release(tmp_path / "artifacts", newer, schema=len(MIGRATIONS))
    add_release(repo, keys, fake, app=app, version=newer, platform="test-x86_64", entry=f"clinic-{app}")
    publish(repo, mirror)
    env = {
        **os.environ,
        "CLINIC_SITE_CONFIG": str(tmp_path / "site.toml"),
        "CLINIC_USER_CONFIG": str(tmp_path / "user.toml"),
    }
    with MirrorServer(mirror) as server:
        (tmp_path / "site.toml").write_text(f'update_mirror = "{server.url}"\ndata_folder = "{data}"\n')
        exe = root / "current" / f"clinic-{app}"
        common = ["--platform", "test-x86_64", "--lang", "en", "--json"]
        check = subprocess.run(
            [str(exe), "update", "--check", *common], capture_output=True, text=True, timeout=120, env=env
        )
        assert check.returncode == 10, check.stderr[-3000:]
        assert json.loads(check.stdout.splitlines()[-1])["available"] == newer
        apply = subprocess.run(
            [str(exe), "update", "--apply", *common], capture_output=True, text=True, timeout=300, env=env
        )
    assert apply.returncode == 0, apply.stderr[-3000:]
    state = json.loads((root / "state.json").read_text())
    assert state["current"] == newer and state["previous"] == version
    assert (root / "current").resolve().name == newer and (root / "versions" / version).is_dir()
    assert list((data / "backups").glob(f"{app}-{version}-to-{newer}-*.db"))  # the local database, backed up
    assert "installed" in (root / "update.log").read_text()
    assert (data / "logs" / f"{app}.log").is_file()  # the frozen app's own log, next to its data
