"""``packaging/release.py`` from the command line, as a release manager runs it: create the keys, start
a repository, sign a release, publish it to a folder served on loopback, refresh the short-lived
metadata; a PC trusting the first root finds and installs the release."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shared.update.client import Installation, UpdateClient
from tests.packaging.support import MirrorServer, fake_release, install_fake

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "packaging" / "release.py"


def release_py(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RELEASE), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_keys_init_add_publish_refresh_and_a_pc_installs_the_release(tmp_path: Path) -> None:
    keys, repo, mirror = tmp_path / "keys", tmp_path / "repo", tmp_path / "mirror"
    secret = {"CLINIC_RELEASE_PASSPHRASE": "correct horse"}

    made = release_py("keys", "--keys", keys, env=secret)
    assert made.returncode == 0, made.stderr
    assert set(json.loads(made.stdout[: made.stdout.rindex("}") + 1])) == {
        "root",
        "targets",
        "snapshot",
        "timestamp",
    }
    assert sorted(p.name for p in (keys / "offline").iterdir()) == ["root.pem", "targets.pem"]
    assert sorted(p.name for p in (keys / "online").iterdir()) == ["snapshot.pem", "timestamp.pem"]
    assert b"ENCRYPTED" in (keys / "offline" / "root.pem").read_bytes()
    assert (keys / "offline" / "root.pem").stat().st_mode & 0o077 == 0
    assert release_py("keys", "--keys", keys, env=secret).returncode == 1  # never overwritten

    assert release_py("init", "--keys", keys, "--repo", repo, env=secret).returncode == 0
    wrong = release_py(
        "init", "--keys", keys, "--repo", tmp_path / "repo2", env={"CLINIC_RELEASE_PASSPHRASE": "x"}
    )
    assert wrong.returncode == 1 and "CLINIC_RELEASE_PASSPHRASE" in wrong.stderr

    artifact = fake_release(tmp_path / "dist", "1.1.0")
    named = artifact.rename(artifact.with_name("clinic-triage-1.1.0-linux-x86_64.tar.gz"))
    added = release_py("add", "--keys", keys, "--repo", repo, named, env=secret)
    assert added.returncode == 0 and "signed triage 1.1.0 for linux-x86_64" in added.stdout
    again = release_py("add", "--keys", keys, "--repo", repo, named, env=secret)
    assert again.returncode == 1 and "not newer" in again.stderr

    # The scheduled refresh needs only the online keys: the offline media is not attached.
    online_only = tmp_path / "online-only"
    (online_only / "online").mkdir(parents=True)
    for name in ("snapshot.pem", "timestamp.pem"):
        (online_only / "online" / name).write_bytes((keys / "online" / name).read_bytes())
    refreshed = release_py("refresh", "--keys", online_only, "--repo", repo, env=secret)
    assert refreshed.returncode == 0 and refreshed.stdout.startswith("timestamp version 3")
    newer = fake_release(tmp_path / "dist2", "1.2.0")
    newer = newer.rename(newer.with_name("clinic-triage-1.2.0-linux-x86_64.tar.gz"))
    no_offline = release_py("add", "--keys", online_only, "--repo", repo, newer, env=secret)
    assert no_offline.returncode == 1 and "offline key media" in no_offline.stderr

    published = release_py("publish", "--repo", repo, "--mirror", mirror)
    assert published.returncode == 0, published.stderr
    status = json.loads(release_py("status", "--repo", repo).stdout)
    assert status["releases"] == {"triage/linux-x86_64/release.json": "1.1.0"}
    assert status["timestamp"]["version"] == 3 and status["targets"]["version"] == 2

    pc = tmp_path / "pc" / "triage"
    install_fake(pc, "1.0.0")
    with MirrorServer(mirror) as server:
        client = UpdateClient(
            Installation(pc, "triage"),
            server.url,
            data_folder=tmp_path / "data",
            trusted_root=repo / "metadata" / "1.root.json",
            platform="linux-x86_64",
            lang="en",
        )
        assert client.check().available.version == "1.1.0"
        assert client.apply().installed == "1.1.0"
