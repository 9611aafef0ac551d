"""Updates from a TUF-signed mirror on loopback: verification, refusal, resume, rollback on a failed
migration. Releases are tiny fake bundles (a launcher script and a small app with --self-test)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from shared.update.client import (
    Installation,
    UpdateClient,
    UpdateError,
    UpdateRefused,
    UpdateRolledBack,
)
from shared.update.repository import ReleaseError, add_release, create_keys, init_repository, publish
from tests.packaging.support import MirrorServer, fake_release, install_fake, tree

PLATFORM = "test-x86_64"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    create_keys(folder)
    return folder


class World:
    """A release repository, its published mirror on loopback, one installed PC."""

    def __init__(self, tmp: Path, keys: Path, server: MirrorServer) -> None:
        self.tmp = tmp
        self.keys = keys
        self.repo = tmp / "repo"
        self.mirror = server.folder
        self.server = server
        self.root = tmp / "install"
        self.data = tmp / "data"
        init_repository(self.repo, keys)
        publish(self.repo, self.mirror)

    def release(self, version: str, *, schema: int = 1, broken: bool = False, **days: float) -> Path:
        artifact = fake_release(self.tmp / "artifacts", version, schema=schema, broken=broken)
        add_release(
            self.repo,
            self.keys,
            artifact,
            app="triage",
            version=version,
            platform=PLATFORM,
            entry="clinic-triage",
            days=days or None,
        )
        publish(self.repo, self.mirror)
        return next((self.mirror / "targets" / "triage" / PLATFORM).glob(f"*.{artifact.name}"))

    def install(self, version: str) -> None:
        install_fake(self.root, version)
        # The PC has been used: its database has unsynced work in the outbox.
        assert self.run_self_test(version)["ok"]
        with sqlite3.connect(self.data / "triage.db") as db:
            db.execute("INSERT INTO outbox (body) VALUES ('queue.call A012'), ('rx.sign 42')")
        db.close()

    def client(self) -> UpdateClient:
        return UpdateClient(
            Installation(self.root, "triage"),
            self.server.url,
            data_folder=self.data,
            trusted_root=self.repo / "metadata" / "1.root.json",
            platform=PLATFORM,
            lang="en",
        )

    def state(self) -> dict[str, object]:
        return json.loads((self.root / "state.json").read_text())

    def versions(self) -> list[str]:
        return sorted(p.name for p in (self.root / "versions").iterdir())

    def run_self_test(self, version: str) -> dict[str, object]:
        return self.client().run_self_test(version)

    def schema(self) -> tuple[int, list[str], list[str]]:
        with sqlite3.connect(self.data / "triage.db") as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            columns = [row[1] for row in db.execute("PRAGMA table_info(outbox)")]
            bodies = [row[0] for row in db.execute("SELECT body FROM outbox ORDER BY id")]
        db.close()
        return version, columns, bodies


@pytest.fixture
def world(tmp_path: Path, keys: Path):
    (tmp_path / "mirror").mkdir()
    with MirrorServer(tmp_path / "mirror") as server:
        yield World(tmp_path, keys, server)


def test_a_newer_signed_release_installs_side_by_side_and_keeps_the_previous(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0", schema=2)
    check = world.client().check()
    assert check.available is not None and check.available.version == "1.1.0"

    result = world.client().apply()

    assert result.installed == "1.1.0" and result.previous == "1.0.0"
    assert world.state()["current"] == "1.1.0" and world.state()["previous"] == "1.0.0"
    assert world.versions() == ["1.0.0", "1.1.0"]
    assert (world.root / "current").resolve() == (world.root / "versions" / "1.1.0").resolve()
    version, columns, bodies = world.schema()
    assert version == 2 and "v2" in columns
    assert bodies == ["queue.call A012", "rx.sign 42"]  # unsynced work survives the migration
    backups = list((world.data / "backups").glob("triage-1.0.0-to-1.1.0-*.db"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()
    assert world.client().check().available is None  # now up to date


def test_a_tampered_artifact_is_refused_and_nothing_is_unpacked(world: World) -> None:
    world.install("1.0.0")
    artifact = world.release("1.1.0")
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))

    with pytest.raises(UpdateRefused, match="verification"):
        world.client().apply()

    assert world.versions() == ["1.0.0"]
    assert world.state()["current"] == "1.0.0"
    assert [p for p in tree(world.root / "downloads") if p.endswith((".part", ".tar.gz"))] == []
    assert not (world.root / "update.lock").exists()
    last = json.loads((world.root / "update.log").read_text().splitlines()[-1])
    assert last["event"] == "not_applied" and last["code"] == "update_refused"


def test_an_artifact_longer_than_signed_is_refused_not_resumed(world: World) -> None:
    world.install("1.0.0")
    artifact = world.release("1.1.0")
    artifact.write_bytes(artifact.read_bytes() + b"appended")

    with pytest.raises(UpdateRefused, match="verification") as refused:
        world.client().apply()

    assert "DownloadLengthMismatchError" in refused.value.message
    assert world.versions() == ["1.0.0"]
    assert [p for p in tree(world.root / "downloads") if p.endswith((".part", ".tar.gz"))] == []


def test_an_older_release_is_refused(world: World) -> None:
    world.install("1.2.0")
    world.release("1.1.0")
    with pytest.raises(UpdateRefused) as refused:
        world.client().check()
    assert refused.value.code == "older_version"
    with pytest.raises(UpdateRefused):
        world.client().apply()
    assert world.versions() == ["1.2.0"]
    # The release tool refuses to sign a version that is not newer than the released one, too.
    with pytest.raises(ReleaseError, match="not newer"):
        add_release(
            world.repo,
            world.keys,
            fake_release(world.tmp / "a", "1.0.5"),
            app="triage",
            version="1.0.5",
            platform=PLATFORM,
            entry="clinic-triage",
        )


def test_a_mirror_replaying_older_metadata_is_refused(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0")
    old_timestamp = (world.mirror / "metadata" / "timestamp.json").read_bytes()
    world.release("1.2.0")
    assert world.client().check().available.version == "1.2.0"  # the PC has seen the newer metadata
    (world.mirror / "metadata" / "timestamp.json").write_bytes(old_timestamp)

    with pytest.raises(UpdateRefused, match="verification"):
        world.client().check()


def test_expired_metadata_is_refused(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0", timestamp=-1)  # signed correctly, but the timestamp expired a day ago
    with pytest.raises(UpdateRefused, match="[Ee]xpired"):
        world.client().apply()
    assert world.versions() == ["1.0.0"]


def test_files_mixed_from_two_releases_are_refused(world: World) -> None:
    world.install("1.0.0")
    first = world.release("1.1.0")
    first_targets = sorted((world.mirror / "metadata").glob("*.targets.json"))[-1].read_bytes()
    second = world.release("1.2.0")
    # A half-synced mirror: 1.2.0's metadata, but its artifact file holds 1.1.0's bytes.
    shutil.copyfile(first, second)
    with pytest.raises(UpdateRefused, match="verification"):
        world.client().apply()
    assert world.versions() == ["1.0.0"]
    # Or 1.2.0's snapshot with 1.1.0's targets metadata under the new name.
    newest = sorted(
        (world.mirror / "metadata").glob("*.targets.json"), key=lambda p: int(p.name.split(".")[0])
    )
    newest[-1].write_bytes(first_targets)
    shutil.rmtree(world.root / "tuf")  # a PC that has not seen the newer targets yet
    with pytest.raises(UpdateRefused, match="verification"):
        world.client().check()


def test_an_interrupted_download_resumes_where_it_stopped(world: World) -> None:
    world.install("1.0.0")
    artifact = world.release("1.1.0", schema=2)
    size = artifact.stat().st_size
    world.server.cut[artifact.name] = size // 2

    with pytest.raises(UpdateError) as failed:
        world.client().apply()
    assert failed.value.code == "download"
    assert world.versions() == ["1.0.0"] and world.state()["current"] == "1.0.0"
    parts = list((world.root / "downloads" / "partial").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == size // 2

    world.client().apply()

    assert world.state()["current"] == "1.1.0"
    assert (f"/targets/triage/{PLATFORM}/{artifact.name}", f"bytes={size // 2}-") in world.server.requests
    assert list((world.root / "downloads" / "partial").glob("*.part")) == []


def test_a_corrupt_partial_download_is_discarded_and_fetched_again(world: World) -> None:
    world.install("1.0.0")
    artifact = world.release("1.1.0")
    world.server.cut[artifact.name] = 100
    with pytest.raises(UpdateError):
        world.client().apply()
    part = next((world.root / "downloads" / "partial").glob("*.part"))
    part.write_bytes(b"\0" * 100)  # the disk kept garbage

    with pytest.raises(UpdateRefused):
        world.client().apply()
    assert not part.exists() and world.versions() == ["1.0.0"]

    world.server.ranges = False  # a mirror without Range support: the download starts over
    world.server.cut[artifact.name] = 50
    with pytest.raises(UpdateError):
        world.client().apply()
    world.client().apply()
    assert world.state()["current"] == "1.1.0"


def test_a_failed_migration_rolls_back_and_the_old_version_still_starts(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0", schema=2, broken=True)

    with pytest.raises(UpdateRolledBack) as rolled:
        world.client().apply()

    assert "1.1.0" in rolled.value.message and "1.0.0" in rolled.value.message
    state = world.state()
    assert state["current"] == "1.0.0" and state["previous"] == "" and "1.1.0" in state["bad"]
    assert world.versions() == ["1.0.0"]
    assert (world.root / "current").resolve() == (world.root / "versions" / "1.0.0").resolve()
    version, columns, bodies = world.schema()
    assert version == 1 and "v2" not in columns  # the half-done migration was undone from the backup
    assert bodies == ["queue.call A012", "rx.sign 42"]
    assert world.run_self_test("1.0.0")["ok"]
    # The bad version is not offered again; a fixed one is.
    assert world.client().check().available is None
    world.release("1.1.1", schema=2)
    assert world.client().apply().installed == "1.1.1"
    # IT reads what happened in the installation's update.log.
    log = [json.loads(line) for line in (world.root / "update.log").read_text().splitlines()]
    assert [(e["event"], e.get("version")) for e in log] == [("rolled_back", None), ("installed", "1.1.1")]
    assert log[0]["code"] == "update_rolled_back" and "1.1.0" in log[0]["message"]


def test_rollback_makes_the_previous_version_current(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0")
    world.client().apply()
    assert "1.0.0" in world.client().rollback()
    assert world.state()["current"] == "1.0.0" and world.state()["previous"] == "1.1.0"
    assert world.run_self_test("1.0.0")["ok"]


def test_clinic_update_check_on_the_command_line(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0")
    cmd = [
        sys.executable,
        "-m",
        "shared.cli",
        "update",
        "--check",
        "--json",
        "--app",
        "triage",
        "--install-root",
        str(world.root),
        "--mirror",
        world.server.url,
        "--data-folder",
        str(world.data),
        "--trusted-root",
        str(world.repo / "metadata" / "1.root.json"),
        "--platform",
        PLATFORM,
        "--lang",
        "en",
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "CLINIC_SITE_CONFIG": str(world.tmp / "none.toml")},
    )
    assert proc.returncode == 10, proc.stderr
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["available"] == "1.1.0" and "1.1.0 is available" in answer["message"]


def test_the_linux_install_script_lays_out_what_the_updater_updates(world: World) -> None:
    script = Path(__file__).resolve().parents[2] / "packaging" / "install_linux.sh"
    archive = fake_release(world.tmp / "dist", "1.0.0")
    linux_name = archive.with_name("clinic-triage-1.0.0-linux-x86_64.tar.gz")
    archive.rename(linux_name)
    proc = subprocess.run(
        [
            "bash",
            str(script),
            str(linux_name),
            "--prefix",
            str(world.tmp / "opt"),
            "--bin-dir",
            "",
            "--trusted-root",
            str(world.repo / "metadata" / "1.root.json"),
            "--data-folder",
            str(world.data),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    world.root = world.tmp / "opt" / "triage"
    assert world.state()["current"] == "1.0.0" and (world.root / "tuf" / "root.json").exists()
    world.release("1.1.0", schema=2)
    client = UpdateClient(
        Installation(world.root, "triage"),
        world.server.url,
        data_folder=world.data,
        platform=PLATFORM,
        lang="en",
    )  # trusts the root the script installed
    assert client.apply().installed == "1.1.0"
    assert world.state()["previous"] == "1.0.0"
    assert (world.root / "current").resolve().name == "1.1.0"


def test_the_start_up_check_stays_quiet_outside_an_installed_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.update.startup import quiet_check, start_quiet_check

    monkeypatch.setenv("CLINIC_SITE_CONFIG", str(tmp_path / "site.toml"))
    (tmp_path / "site.toml").write_text('update_mirror = "http://127.0.0.1:9/"\n')
    assert quiet_check("triage") is None  # a development checkout: nothing to update
    (tmp_path / "site.toml").write_text("this is not toml =\n")
    assert quiet_check("triage") is None  # a broken site file is logged, not raised
    called: list[object] = []
    start_quiet_check("triage", called.append).join(10)
    assert called == []


def test_a_failed_update_on_a_pc_without_data_leaves_no_database_behind(world: World) -> None:
    install_fake(world.root, "1.0.0")  # installed, never started: no local database yet
    world.release("1.1.0", schema=2, broken=True)
    with pytest.raises(UpdateRolledBack):
        world.client().apply()
    assert not (world.data / "triage.db").exists()  # the old version starts on a clean folder
    assert world.state()["current"] == "1.0.0"
    assert world.run_self_test("1.0.0")["ok"]


HOLD_MARKER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from shared.update.launcher import _mark_running\n"
    "_mark_running('triage', ['display', '--data-folder', sys.argv[1]])\n"
    "print('running', flush=True)\n"
    "time.sleep(120)\n"
)


def test_an_update_is_refused_while_the_app_has_its_database_open(world: World) -> None:
    world.install("1.0.0")
    world.release("1.1.0", schema=2)
    root = Path(__file__).resolve().parents[2]
    app = subprocess.Popen(
        [sys.executable, "-c", HOLD_MARKER, str(world.data)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "running"
        with pytest.raises(UpdateError) as refused:
            world.client().apply()
        assert refused.value.code == "app_running" and str(app.pid) in refused.value.message
        assert world.versions() == ["1.0.0"] and world.state()["current"] == "1.0.0"
        assert world.schema()[0] == 1  # not migrated under the running app
        assert world.client().check().available is not None  # checking is fine while it runs
    finally:
        app.kill()
        app.wait(10)
    # The app is gone (even killed): its marker is stale, removed, and the update goes ahead.
    assert world.client().apply().installed == "1.1.0"
    assert list((world.data / "running").glob("*.lock")) == []


def test_the_start_up_check_tells_every_listener_once_a_newer_release_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.update import startup
    from shared.update.client import CheckResult
    from shared.update.repository import Release

    newer = Release("triage", "1.1.0", PLATFORM, f"triage/{PLATFORM}/a.tar.gz", "clinic-triage")
    found = CheckResult("triage", "1.0.0", newer, "triage 1.1.0 is available (installed: 1.0.0)")
    monkeypatch.setattr(startup, "quiet_check", lambda app, lang="zh_CN": found)
    monkeypatch.setattr(startup, "_available", [])
    monkeypatch.setattr(startup, "_listeners", [])
    early: list[str] = []
    late: list[str] = []
    startup.on_update_available(lambda result: early.append(result.message))  # the window subscribes

    startup.start_quiet_check("triage", lang="en").join(10)
    startup.on_update_available(lambda result: late.append(result.available.version))  # a later window

    assert early == ["triage 1.1.0 is available (installed: 1.0.0)"] and late == ["1.1.0"]


def test_a_rollback_the_migrated_database_forbids_is_refused_until_the_backup_is_restored(
    world: World,
) -> None:
    from shared.update.local_data import restore

    world.install("1.0.0")
    world.release("1.1.0", schema=2)  # 1.1.0 migrates the database to schema 2; 1.0.0 knows only 1
    world.client().apply()

    with pytest.raises(UpdateError) as refused:
        world.client().rollback()

    assert refused.value.code == "rollback_blocked"
    assert world.state()["current"] == "1.1.0"  # nothing switched: the PC keeps working
    backup = next((world.data / "backups").glob("triage-1.0.0-to-1.1.0-*.db"))
    assert str(backup) in refused.value.message and "local-data restore" in refused.value.message
    # What the message says to do: restore the pre-update backup, then roll back.
    restored, safety = restore(backup, world.data)
    assert restored == world.data / "triage.db" and safety is not None
    assert "1.0.0" in world.client().rollback()
    assert world.state()["current"] == "1.0.0" and world.run_self_test("1.0.0")["ok"]
    version, columns, bodies = world.schema()
    assert version == 1 and "v2" not in columns and bodies == ["queue.call A012", "rx.sign 42"]


def test_an_update_backs_up_only_its_own_bundles_databases(world: World) -> None:
    world.install("1.0.0")
    for name in ("kiosk", "workstation"):  # the kiosk runs from the triage bundle; the workstation not
        with sqlite3.connect(world.data / f"{name}.db") as db:
            db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT)")
        db.close()
    world.release("1.1.0", schema=2)

    result = world.client().apply()

    backups = sorted(p.name.split("-", 1)[0] for p in (world.data / "backups").glob("*.db"))
    assert backups == ["kiosk", "triage"]
    assert (
        result.self_test["runs"] == 2
    )  # `clinic-triage --self-test`, then `clinic-triage kiosk --self-test`


def test_local_data_restore_is_refused_while_the_app_runs(world: World) -> None:
    from shared.update.local_data import InUse, backup, restore

    world.install("1.0.0")
    made = backup(world.data, world.tmp / "usb")
    root = Path(__file__).resolve().parents[2]
    app = subprocess.Popen(
        [sys.executable, "-c", HOLD_MARKER, str(world.data)], stdout=subprocess.PIPE, text=True, cwd=root
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "running"
        with pytest.raises(InUse, match="triage is running"):
            restore(made / "triage.db", world.data)
    finally:
        app.kill()
        app.wait(10)
    assert restore(made / "triage.db", world.data)[0] == world.data / "triage.db"
