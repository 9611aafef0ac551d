"""Check for, verify, install and roll back updates of one installed app (``clinic update``).

Installed layout (one folder per app, made by the installer)::

    <root>/versions/<version>/...      one unpacked bundle per version, side by side
    <root>/state.json                  {"current", "previous", "bad": [...]}; switched atomically
    <root>/current -> versions/<v>     symlink (POSIX) or junction (Windows): what shortcuts run
    <root>/tuf/root.json               the trusted TUF root (shipped in the bundle as update/root.json)
    <root>/downloads/                  partial downloads (resumed), verified artifacts
    <root>/update.log

Apply: refresh TUF metadata (root, timestamp, snapshot, targets: signatures, expiry, rollback and
version checks), read the app's signed ``release.json``, refuse versions that are not newer or that
failed here before, download the artifact (resumed where a previous attempt stopped) and verify its
length and hash against the signed targets metadata before anything is unpacked; unpack into
``versions/<v>``, refuse while a copy of the app has its database open (``shared.update.running``), back up the app's
local databases (SQLite online backup API), switch, run the new version's ``--self-test`` (which opens
each database and runs its migrations); if it fails, restore the databases, switch back and record the
version as bad. The previous version is kept for rollback. Every install, refusal, failure and
rollback is one JSON line in ``<root>/update.log``.

Thread-safety: blocking (network and disk); apps run ``quiet_check`` off the GUI thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform as _platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tuf.api import exceptions as tuf_errors
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig

from shared.errors import SuiteError
from shared.i18n import tr
from shared.store import crypto
from shared.update import texts as _texts  # noqa: F401 - registers the messages
from shared.update.build_info import bundle_root, version_key
from shared.update.repository import RELEASE_POINTER, Release
from shared.update.running import databases_of, running_instances

log = logging.getLogger(__name__)

# backing up the local databases failed (either SQLite driver, a missing key, the disk)
_BACKUP_ERRORS: tuple[type[BaseException], ...] = (*crypto.DRIVER_ERRORS, crypto.MissingKey, OSError)

KEEP_BACKUPS = 5
SELF_TEST_TIMEOUT = 300.0


class UpdateError(SuiteError):
    code = "update_failed"


class UpdateRefused(UpdateError):
    """Verification failed (signature, hash, expiry, rollback) or the offered version is not acceptable."""

    code = "update_refused"


class UpdateRolledBack(UpdateError):
    code = "update_rolled_back"


def platform_tag() -> str:
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    return f"{system}-{_platform.machine().lower()}"


# --------------------------------------------------------------------------------------------------
# Downloads that resume


class ResumingFetcher(FetcherInterface):
    """Downloads over HTTP(S) with httpx; artifact downloads keep a ``.part`` file and resume it with a
    Range request on the next attempt. A ``.part`` never counts as verified: TUF checks the whole file's
    length and hash after download, and ``discard`` deletes a part that failed verification."""

    def __init__(self, partial_dir: Path, *, verify: str | bool = True, timeout: float = 30.0) -> None:
        self.partial_dir = partial_dir
        self.resumable: set[str] = set()  # the artifact URLs being downloaded (metadata never resumes)
        self.verify = verify
        self.timeout = timeout

    def part_path(self, url: str) -> Path:
        return self.partial_dir / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".part")

    def discard(self, url: str) -> None:
        self.part_path(url).unlink(missing_ok=True)

    def _fetch(self, url: str) -> Iterator[bytes]:
        return self._chunks(url)

    def _chunks(self, url: str) -> Iterator[bytes]:
        part = self.part_path(url) if url in self.resumable else None
        have = part.stat().st_size if part is not None and part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with httpx.stream(
                "GET", url, headers=headers, timeout=self.timeout, verify=self.verify, follow_redirects=True
            ) as resp:
                if resp.status_code == 416 and part is not None:
                    part.unlink(missing_ok=True)  # our part is not a prefix of this file: start over
                    raise tuf_errors.DownloadError(f"stale partial download of {url} discarded")
                if resp.status_code not in (200, 206):
                    raise tuf_errors.DownloadHTTPError(f"{url}: HTTP {resp.status_code}", resp.status_code)
                resumed = resp.status_code == 206 and resp.headers.get("content-range", "").startswith(
                    f"bytes {have}-"
                )
                if part is None:
                    yield from resp.iter_raw()
                    return
                if resumed:
                    log.info("resuming %s at byte %d", url, have)
                    with part.open("rb") as done:
                        yield from iter(lambda: done.read(1 << 16), b"")
                part.parent.mkdir(parents=True, exist_ok=True)
                with part.open("ab" if resumed else "wb") as out:
                    for chunk in resp.iter_raw():
                        out.write(chunk)
                        out.flush()
                        yield chunk
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"{url}: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------------------------------
# The side-by-side installation


@dataclass
class InstallState:
    app: str
    current: str = ""
    previous: str = ""
    bad: list[str] = field(default_factory=list)
    history: list[dict[str, str]] = field(default_factory=list)


class Installation:
    """One app's install folder: versions side by side and which one is current."""

    def __init__(self, root: Path, app: str) -> None:
        self.root = root
        self.app = app
        self.versions = root / "versions"
        self.downloads = root / "downloads"
        self.tuf_dir = root / "tuf"
        self.state_path = root / "state.json"

    @classmethod
    def of_running_build(cls, app: str) -> Installation | None:
        """The installation this frozen executable belongs to (``<root>/versions/<v>/<exe>``)."""
        if bundle_root() is None:
            return None
        exe_dir = Path(sys.executable).resolve().parent
        if exe_dir.parent.name != "versions":
            return None
        return cls(exe_dir.parent.parent, app)

    def load(self) -> InstallState:
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return InstallState(app=self.app)
        return InstallState(
            app=str(raw.get("app", self.app)),
            current=str(raw.get("current", "")),
            previous=str(raw.get("previous", "")),
            bad=[str(v) for v in raw.get("bad", [])],
            history=list(raw.get("history", [])),
        )

    def save(self, state: InstallState) -> None:
        tmp = self.state_path.with_name("state.json.tmp")
        tmp.write_text(json.dumps(state.__dict__, indent=1), encoding="utf-8")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_path)

    def entry_of(self, version: str) -> Path:
        marker = self.versions / version / ".clinic-entry"
        entry = marker.read_text(encoding="utf-8").strip() if marker.exists() else f"clinic-{self.app}"
        path = self.versions / version / entry
        if sys.platform == "win32" and not path.suffix and path.with_suffix(".exe").exists():
            path = path.with_suffix(".exe")
        return path

    def switch(self, state: InstallState, version: str, *, note: str) -> None:
        """Make ``version`` current (atomic rename of state.json, then the launcher links)."""
        if state.current and state.current != version:
            state.previous = state.current
        state.current = version
        state.history.append(
            {"at": datetime.now(UTC).isoformat(timespec="seconds"), "current": version, "note": note}
        )
        state.history = state.history[-50:]
        self.save(state)
        self._write_launchers(version)

    def _write_launchers(self, version: str) -> None:
        """``current`` points at the version: a symlink swapped atomically (POSIX), a directory junction
        re-made with ``mklink /J`` (Windows: shortcuts and the scheduled update task go through it)."""
        link = self.root / "current"
        if sys.platform == "win32":
            if os.path.lexists(link):
                os.rmdir(link)  # removes the junction, never the version it points at
            subprocess.run(
                ["cmd", "/c", "mklink", "/J", str(link), str(self.versions / version)],
                check=True,
                capture_output=True,
            )
            return
        tmp_link = self.root / ".current.tmp"
        tmp_link.unlink(missing_ok=True)
        os.symlink(Path("versions") / version, tmp_link)
        os.replace(tmp_link, link)

    def prune(self, state: InstallState) -> None:
        """Keep only the current and previous versions (and nothing half-unpacked)."""
        keep = {state.current, state.previous}
        if not self.versions.exists():
            return
        for folder in self.versions.iterdir():
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)


class _Lock:
    """One update at a time per installation; a lock older than an hour is stale (a crashed update)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if time.time() - self.path.stat().st_mtime > 3600:
                    self.path.unlink(missing_ok=True)
                    continue
                raise UpdateError(tr("update.busy", _lang(), path=self.path), code="update_busy") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return self
        raise UpdateError(tr("update.busy", _lang(), path=self.path), code="update_busy")

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


_LANG = ["zh_CN"]


def _lang() -> str:
    return _LANG[0]


# --------------------------------------------------------------------------------------------------
# Local databases


def backup_databases(data_folder: Path, label: str, names: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """Copy each ``<name>.db`` that exists with SQLite's online backup API; (live, backup) pairs."""
    pairs: list[tuple[Path, Path]] = []
    if not data_folder.is_dir():
        return pairs
    target_dir = data_folder / "backups"
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for live in [data_folder / f"{name}.db" for name in names if (data_folder / f"{name}.db").is_file()]:
        backup = target_dir / f"{live.stem}-{label}-{stamp}.db"
        crypto.copy_database(live, backup, live=live)  # an encrypted store's backup stays encrypted
        pairs.append((live, backup))
    _prune_backups(target_dir)
    return pairs


def restore_databases(pairs: list[tuple[Path, Path]]) -> None:
    """Write each backup back over its live database (online backup API, so WAL is handled)."""
    for live, backup in pairs:
        crypto.copy_database(backup, live, live=live)


def _prune_backups(folder: Path) -> None:
    by_db: dict[str, list[Path]] = {}
    for path in folder.glob("*.db"):
        by_db.setdefault(path.name.split("-", 1)[0], []).append(path)
    for paths in by_db.values():
        for old in sorted(paths, key=lambda p: p.stat().st_mtime)[:-KEEP_BACKUPS]:
            old.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# Safe unpacking


def unpack(archive: Path, dest: Path) -> None:
    """Extract into ``dest`` via a temporary sibling folder; refuses links or paths leaving the folder."""
    tmp = dest.with_name(dest.name + ".unpacking")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, OSError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UpdateRefused(tr("update.bad_archive", _lang(), detail=exc), code="bad_archive") from exc
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


# --------------------------------------------------------------------------------------------------
# The updater


@dataclass(frozen=True)
class CheckResult:
    app: str
    current: str
    available: Release | None
    message: str
    length: int = 0


@dataclass(frozen=True)
class ApplyResult:
    app: str
    installed: str
    previous: str
    message: str
    self_test: dict[str, object] = field(default_factory=dict)


class UpdateClient:
    """Updates one installation from one mirror. ``data_folder``: the app's local databases."""

    def __init__(
        self,
        installation: Installation,
        mirror: str,
        *,
        data_folder: Path,
        trusted_root: Path | None = None,
        platform: str | None = None,
        ca_certificate: str = "",
        timeout: float = 30.0,
        lang: str = "zh_CN",
    ) -> None:
        if not mirror:
            raise UpdateError(tr("update.no_mirror", lang), code="no_mirror")
        self.install = installation
        self.mirror = mirror.rstrip("/") + "/"
        self.data_folder = data_folder
        self.trusted_root = trusted_root
        self.platform = platform or platform_tag()
        self.verify: str | bool = ca_certificate or True
        self.timeout = timeout
        self.lang = lang
        _LANG[0] = lang
        self.fetcher = ResumingFetcher(
            installation.downloads / "partial", verify=self.verify, timeout=timeout
        )

    # ---- TUF

    def _updater(self) -> Updater:
        tuf_dir = self.install.tuf_dir
        tuf_dir.mkdir(parents=True, exist_ok=True)
        bootstrap: bytes | None = None
        if not (tuf_dir / "root.json").exists():
            shipped = self.trusted_root or self._shipped_root()
            if shipped is None or not shipped.exists():
                raise UpdateError("no trusted TUF root (tuf/root.json) in this installation", code="no_root")
            bootstrap = shipped.read_bytes()
        return Updater(
            metadata_dir=str(tuf_dir),
            metadata_base_url=self.mirror + "metadata/",
            target_dir=str(self.install.downloads),
            target_base_url=self.mirror + "targets/",
            fetcher=self.fetcher,
            config=UpdaterConfig(app_user_agent="clinic-suite-updater"),
            bootstrap=bootstrap,
        )

    def _shipped_root(self) -> Path | None:
        root = bundle_root()
        if root is not None and (root / "update" / "root.json").exists():
            return root / "update" / "root.json"
        state = self.install.load()
        if state.current:
            for candidate in (self.install.versions / state.current).glob("**/update/root.json"):
                return candidate
        return None

    def _refused(self, exc: Exception) -> UpdateRefused:
        return UpdateRefused(tr("update.verify_failed", self.lang, detail=f"{type(exc).__name__}: {exc}"))

    def _latest(self, updater: Updater) -> tuple[Release, int]:
        pointer = f"{self.install.app}/{self.platform}/{RELEASE_POINTER}"
        try:
            updater.refresh()
            info = updater.get_targetinfo(pointer)
            if info is None:
                raise UpdateRefused(
                    f"the mirror has no release of {self.install.app} for {self.platform}", code="no_release"
                )
            path = updater.download_target(info, str(self.install.downloads / "release.json"))
            release = Release.from_json(Path(path).read_bytes())
            version_key(release.version)  # a signed but malformed version is refused like a bad signature
        except tuf_errors.DownloadError as exc:
            raise UpdateError(tr("update.download_failed", self.lang, detail=exc), code="download") from exc
        except (tuf_errors.RepositoryError, ValueError, KeyError) as exc:
            raise self._refused(exc) from exc
        if release.app != self.install.app or release.platform != self.platform:
            raise self._refused(ValueError(f"release.json names {release.app}/{release.platform}"))
        art = updater.get_targetinfo(release.artifact)
        if art is None or art.unrecognized_fields.get("custom", {}).get("version") != release.version:
            raise self._refused(ValueError(f"{release.artifact} is not part of release {release.version}"))
        return release, art.length

    def check(self, updater: Updater | None = None) -> CheckResult:
        state = self.install.load()
        current = state.current or "0.0.0"
        release, length = self._latest(updater or self._updater())
        app = self.install.app
        if version_key(release.version) <= version_key(current):
            if release.version == current:
                return CheckResult(
                    app, current, None, tr("update.up_to_date", self.lang, app=app, version=current)
                )
            raise UpdateRefused(
                tr("update.older_refused", self.lang, version=release.version, current=current),
                code="older_version",
            )
        if release.version in state.bad:
            return CheckResult(app, current, None, tr("update.known_bad", self.lang, version=release.version))
        return CheckResult(
            app,
            current,
            release,
            tr("update.available", self.lang, app=app, version=release.version, current=current),
            length,
        )

    # ---- apply

    def apply(self) -> ApplyResult | CheckResult:
        """Install the newest release if there is one; a CheckResult when there is nothing to do."""
        with _Lock(self.install.root / "update.lock"):
            try:
                updater = self._updater()  # one metadata state for the check and the download
                result = self.check(updater)
                if result.available is None:
                    return result
                self._refuse_while_running()
                applied = self._install(result.available, updater)
            except UpdateError as exc:
                self._record("rolled_back" if isinstance(exc, UpdateRolledBack) else "not_applied", exc)
                raise
            self._record("installed", None, version=applied.installed, previous=applied.previous)
            return applied

    def _record(self, event: str, error: UpdateError | None, **fields: object) -> None:
        """One JSON line per install, refusal, failure and rollback in ``<root>/update.log`` (for IT)."""
        line: dict[str, object] = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "app": self.install.app,
            "event": event,
            **fields,
        }
        if error is not None:
            line.update(code=error.code, message=error.message)
        log.log(logging.WARNING if error else logging.INFO, "update %s", line)
        try:
            with (self.install.root / "update.log").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.warning("cannot write %s: %s", self.install.root / "update.log", exc)

    def _refuse_while_running(self) -> None:
        """An update migrates the local database: never while a copy of the app has it open."""
        pids = running_instances(self.data_folder, self.install.app)
        if pids:
            raise UpdateError(
                tr(
                    "update.app_running",
                    self.lang,
                    app=self.install.app,
                    pids=", ".join(str(p) for p in pids),
                ),
                code="app_running",
            )

    def _download(self, release: Release, updater: Updater) -> Path:
        try:
            info = updater.get_targetinfo(release.artifact)
            if info is None:
                raise self._refused(ValueError(f"{release.artifact} vanished from the metadata"))
            url = self._target_url(info.path, info.hashes["sha256"])
            dest = self.install.downloads / Path(release.artifact).name
            self.fetcher.resumable.add(url)
            try:
                path = Path(updater.download_target(info, str(dest)))
            except (tuf_errors.RepositoryError, tuf_errors.DownloadLengthMismatchError) as exc:
                self.fetcher.discard(url)  # a part that does not verify is never resumed
                dest.unlink(missing_ok=True)
                if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
                    # longer than the signed length: not an interrupted download but another file
                    raise self._refused(exc) from exc
                raise
            self.fetcher.discard(url)
            return path
        except tuf_errors.DownloadError as exc:
            raise UpdateError(tr("update.download_failed", self.lang, detail=exc), code="download") from exc
        except tuf_errors.RepositoryError as exc:
            raise self._refused(exc) from exc

    def _target_url(self, path: str, digest: str) -> str:
        folder, sep, name = path.rpartition("/")
        return f"{self.mirror}targets/{folder}{sep}{digest}.{name}"

    def _install(self, release: Release, updater: Updater) -> ApplyResult:
        state = self.install.load()
        archive = self._download(release, updater)
        version_dir = self.install.versions / release.version
        unpack(archive, version_dir)
        (version_dir / ".clinic-entry").write_text(release.entry, encoding="utf-8")
        archive.unlink(missing_ok=True)
        old, old_previous = state.current, state.previous
        try:
            self._refuse_while_running()  # again: the app may have started during the download
        except UpdateError:
            shutil.rmtree(version_dir, ignore_errors=True)
            raise
        names = databases_of(self.install.app)
        existing = {name for name in names if (self.data_folder / f"{name}.db").exists()}
        try:
            backups = backup_databases(self.data_folder, f"{old or 'none'}-to-{release.version}", names)
        except _BACKUP_ERRORS as exc:
            shutil.rmtree(version_dir, ignore_errors=True)
            raise UpdateError(f"could not back up the local databases: {exc}", code="backup_failed") from exc
        self.install.switch(state, release.version, note=f"update from {old or 'none'}")
        report = self.run_self_test(release.version)
        if not report.get("ok"):
            detail = str(report.get("error") or report.get("output", ""))[-500:]
            restore_databases(backups)
            for name in set(names) - existing:  # made by the failed version on a fresh PC
                created = self.data_folder / f"{name}.db"
                for part in (created, Path(f"{created}-wal"), Path(f"{created}-shm")):
                    part.unlink(missing_ok=True)
            state = self.install.load()
            if release.version not in state.bad:
                state.bad.append(release.version)
            if old:
                self.install.switch(state, old, note=f"rollback: {release.version} failed its self-test")
                state.previous = old_previous
            self.install.save(state)
            shutil.rmtree(version_dir, ignore_errors=True)
            raise UpdateRolledBack(
                tr(
                    "update.rolled_back",
                    self.lang,
                    version=release.version,
                    current=old or "-",
                    detail=detail,
                ),
                detail=report,
            )
        self.install.prune(self.install.load())
        return ApplyResult(
            app=self.install.app,
            installed=release.version,
            previous=old,
            message=tr(
                "update.installed",
                self.lang,
                app=self.install.app,
                version=release.version,
                previous=old or "-",
            ),
            self_test=report,
        )

    def run_self_test(self, version: str) -> dict[str, object]:
        """Run ``<entry> [command] --self-test --data-folder <data>`` of an installed version: the app's
        own self-test, then one per other database of its bundle that this PC has (the triage bundle's
        kiosk and display), so every local database it opens is migrated and checked now."""
        names = databases_of(self.install.app)
        runs: list[dict[str, object]] = []
        for name in names:
            if name != names[0] and not (self.data_folder / f"{name}.db").exists():
                continue
            runs.append(self._one_self_test(version, [] if name == names[0] else [name]))
            if not runs[-1]["ok"]:
                break
        report = dict(runs[-1])
        report["ok"] = all(run["ok"] for run in runs)
        report["runs"] = len(runs)
        return report

    def _one_self_test(self, version: str, command: list[str]) -> dict[str, object]:
        exe = self.install.entry_of(version)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        try:
            proc = subprocess.run(
                [str(exe), *command, "--self-test", "--data-folder", str(self.data_folder)],
                capture_output=True,
                text=True,
                timeout=SELF_TEST_TIMEOUT,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        report: dict[str, object] = {}
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("{"):
                try:
                    report = json.loads(line)
                except json.JSONDecodeError:
                    continue
                break
        report["exit_code"] = proc.returncode
        report["ok"] = proc.returncode == 0 and bool(report.get("ok", True))
        if not report["ok"]:
            report["output"] = (proc.stdout + proc.stderr)[-2000:]
        return report

    def rollback(self) -> str:
        """Make the previous version current again. The local databases are kept as they are (they hold
        unsynced work), so the previous version must be able to open them: its self-test runs first and,
        when the newer version had already migrated them beyond what it knows, nothing is switched and
        the message says how to go back through the pre-update backup."""
        with _Lock(self.install.root / "update.lock"):
            state = self.install.load()
            if not state.previous or not (self.install.versions / state.previous).is_dir():
                raise UpdateError(tr("update.no_previous", self.lang), code="no_previous")
            self._refuse_while_running()
            target, newer = state.previous, state.current
            report = self.run_self_test(target)
            if not report.get("ok"):
                backups = sorted(
                    (self.data_folder / "backups").glob(f"*-{target}-to-{newer}-*.db"),
                    key=lambda p: p.stat().st_mtime,
                )
                error = UpdateError(
                    tr(
                        "update.rollback_blocked",
                        self.lang,
                        version=target,
                        current=newer,
                        backups=", ".join(str(p) for p in backups[-len(databases_of(self.install.app)) :])
                        or "-",
                        detail=str(report.get("error") or report.get("output", ""))[-300:],
                    ),
                    code="rollback_blocked",
                    detail=report,
                )
                self._record("rollback_refused", error, version=target)
                raise error
            self.install.switch(state, target, note="manual rollback")
            self._record("rollback", None, version=target, previous=newer)
            return tr("update.rollback_done", self.lang, version=target)
