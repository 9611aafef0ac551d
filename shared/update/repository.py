"""The release side of updates: TUF keys, signed metadata and a folder any static web server can serve.

Layout of a repository folder (what ``publish`` copies to the mirror)::

    metadata/1.root.json  root.json  N.targets.json  N.snapshot.json  timestamp.json
    targets/<app>/<platform>/<sha256>.<artifact>      (consistent snapshots: files never change in place)
    targets/<app>/<platform>/<sha256>.release.json    (which version is current for that app/platform)

Keys (``create_keys``): ``offline/root.pem`` and ``offline/targets.pem`` belong on removable media that
only the release manager holds; ``online/snapshot.pem`` and ``online/timestamp.pem`` may live on the
machine that refreshes the short-lived snapshot/timestamp metadata. Private keys are PKCS#8 PEM,
encrypted when ``$CLINIC_RELEASE_PASSPHRASE`` is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import (
    SPECIFICATION_VERSION,
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from shared.errors import SuiteError
from shared.update.build_info import version_key

ROLES = ("root", "targets", "snapshot", "timestamp")
OFFLINE_ROLES = ("root", "targets")
PASSPHRASE_ENV = "CLINIC_RELEASE_PASSPHRASE"
RELEASE_POINTER = "release.json"
# Default lifetimes: root and targets are signed rarely with offline keys; snapshot and timestamp are
# re-signed by a scheduled job (``refresh``) so a mirror that stops being updated goes stale quickly.
DEFAULT_DAYS = {"root": 365, "targets": 90, "snapshot": 7, "timestamp": 1}


class ReleaseError(SuiteError):
    code = "release_error"


@dataclass(frozen=True)
class Release:
    """What ``release.json`` says: the app's current version on a platform and where its artifact is."""

    app: str
    version: str
    platform: str
    artifact: str  # target path of the tarball
    entry: str  # the executable inside the bundle, relative to its top folder

    def as_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Release:
        raw = json.loads(data)
        return cls(**{k: str(raw[k]) for k in ("app", "version", "platform", "artifact", "entry")})


def _key_path(keys: Path, role: str) -> Path:
    return keys / ("offline" if role in OFFLINE_ROLES else "online") / f"{role}.pem"


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def create_keys(keys: Path) -> dict[str, str]:
    """One Ed25519 key per role; refuses to overwrite existing keys. Returns role -> key id."""
    ids: dict[str, str] = {}
    passphrase = _passphrase()
    for role in ROLES:
        path = _key_path(keys, role)
        if path.exists():
            raise ReleaseError(f"{path} already exists; keys are never overwritten")
    for role in ROLES:
        path = _key_path(keys, role)
        path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        encryption = BestAvailableEncryption(passphrase) if passphrase else NoEncryption()
        pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        ids[role] = SSlibKey.from_crypto(private.public_key()).keyid
    return ids


def load_signer(keys: Path, role: str) -> CryptoSigner:
    path = _key_path(keys, role)
    try:
        private = load_pem_private_key(path.read_bytes(), password=_passphrase())
    except FileNotFoundError as exc:
        where = "the offline key media" if role in OFFLINE_ROLES else "the online key folder"
        raise ReleaseError(f"the {role} key is needed ({path}); attach {where}") from exc
    except (TypeError, ValueError) as exc:
        raise ReleaseError(f"cannot read the {role} key {path}: {exc} (is {PASSPHRASE_ENV} right?)") from exc
    return CryptoSigner(private)  # type: ignore[arg-type]


def _expiry(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def _write(repo: Path, name: str, md: Metadata) -> None:  # type: ignore[type-arg]
    target = repo / "metadata" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(md.to_bytes(JSONSerializer(compact=False)))
    os.replace(tmp, target)


def _read(repo: Path, name: str) -> Metadata:  # type: ignore[type-arg]
    return Metadata.from_file(str(repo / "metadata" / name))


def init_repository(repo: Path, keys: Path, *, days: dict[str, float] | None = None) -> None:
    """Root v1 (trusting one key per role), empty targets, snapshot and timestamp."""
    if (repo / "metadata" / "1.root.json").exists():
        raise ReleaseError(f"{repo} already has a repository")
    life = {**DEFAULT_DAYS, **(days or {})}
    signers = {role: load_signer(keys, role) for role in ROLES}
    root = Metadata(Root(expires=_expiry(life["root"]), consistent_snapshot=True))
    for role, signer in signers.items():
        root.signed.add_key(signer.public_key, role)
    root.sign(signers["root"])
    _write(repo, "1.root.json", root)
    _write(repo, "root.json", root)
    targets = Metadata(Targets(expires=_expiry(life["targets"])))
    targets.sign(signers["targets"])
    _write(repo, "1.targets.json", targets)
    _snapshot_and_timestamp(repo, keys, targets_version=1, days=life)


def _latest(repo: Path) -> tuple[Metadata, Metadata, Metadata]:  # type: ignore[type-arg]
    timestamp = _read(repo, "timestamp.json")
    snapshot = _read(repo, f"{timestamp.signed.snapshot_meta.version}.snapshot.json")
    targets = _read(repo, f"{snapshot.signed.meta['targets.json'].version}.targets.json")
    return timestamp, snapshot, targets


def _snapshot_and_timestamp(repo: Path, keys: Path, *, targets_version: int, days: dict[str, float]) -> None:
    try:
        old_ts: Metadata | None = _read(repo, "timestamp.json")  # type: ignore[type-arg]
    except Exception:  # noqa: BLE001 - no timestamp yet in a new repository
        old_ts = None
    snap_version = old_ts.signed.snapshot_meta.version + 1 if old_ts else 1
    snapshot = Metadata(
        Snapshot(
            version=snap_version,
            expires=_expiry(days["snapshot"]),
            meta={"targets.json": MetaFile(version=targets_version)},
        )
    )
    snapshot.sign(load_signer(keys, "snapshot"))
    _write(repo, f"{snap_version}.snapshot.json", snapshot)
    timestamp = Metadata(
        Timestamp(
            version=(old_ts.signed.version + 1) if old_ts else 1,
            expires=_expiry(days["timestamp"]),
            snapshot_meta=MetaFile(version=snap_version),
        )
    )
    timestamp.sign(load_signer(keys, "timestamp"))
    _write(repo, "timestamp.json", timestamp)


def _add_target(repo: Path, targets: Targets, path: str, data_file: Path, custom: dict[str, str]) -> None:
    info = TargetFile.from_file(path, str(data_file), ["sha256"])
    info.unrecognized_fields["custom"] = custom
    digest = info.hashes["sha256"]
    folder, _, name = path.rpartition("/")
    dest = repo / "targets" / folder / f"{digest}.{name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        shutil.copyfile(data_file, dest)
    targets.targets[path] = info


def add_release(
    repo: Path,
    keys: Path,
    artifact: Path,
    *,
    app: str,
    version: str,
    platform: str,
    entry: str,
    days: dict[str, float] | None = None,
) -> Release:
    """Sign ``artifact`` as ``app`` ``version`` for ``platform``: new targets (offline targets key),
    snapshot and timestamp. Refuses a version that is not newer than the one already released."""
    life = {**DEFAULT_DAYS, **(days or {})}
    version_key(version)
    _ts, _snap, targets_md = _latest(repo)
    targets: Targets = targets_md.signed
    pointer_path = f"{app}/{platform}/{RELEASE_POINTER}"
    previous = targets.targets.get(pointer_path)
    if previous is not None:
        old = str(previous.unrecognized_fields.get("custom", {}).get("version", "0.0.0"))
        if version_key(version) <= version_key(old):
            raise ReleaseError(f"{app} {version} is not newer than the released {old}")
    artifact_path = f"{app}/{platform}/{artifact.name}"
    if artifact_path in targets.targets:
        raise ReleaseError(f"{artifact_path} is already released; name each artifact by its version")
    custom = {"app": app, "version": version, "platform": platform}
    _add_target(repo, targets, artifact_path, artifact, custom)
    release = Release(app=app, version=version, platform=platform, artifact=artifact_path, entry=entry)
    with tempfile.TemporaryDirectory() as tmp:
        pointer = Path(tmp) / RELEASE_POINTER
        pointer.write_bytes(release.as_json())
        _add_target(repo, targets, pointer_path, pointer, custom)
    targets.version += 1
    targets.expires = _expiry(life["targets"])
    targets_md.signatures.clear()
    targets_md.sign(load_signer(keys, "targets"))
    _write(repo, f"{targets.version}.targets.json", targets_md)
    _snapshot_and_timestamp(repo, keys, targets_version=targets.version, days=life)
    return release


def refresh(repo: Path, keys: Path, *, days: dict[str, float] | None = None) -> int:
    """Re-sign snapshot and timestamp with fresh expiry (the scheduled job; online keys only).
    Returns the new timestamp version."""
    life = {**DEFAULT_DAYS, **(days or {})}
    _ts, snapshot, _targets = _latest(repo)
    _snapshot_and_timestamp(
        repo, keys, targets_version=snapshot.signed.meta["targets.json"].version, days=life
    )
    return int(_read(repo, "timestamp.json").signed.version)


def publish(repo: Path, mirror: Path) -> list[str]:
    """Copy the repository to a mirror folder in an order that is always consistent for clients:
    target files, then versioned metadata, then ``root.json``, and ``timestamp.json`` last (atomic)."""
    copied: list[str] = []
    mirror.mkdir(parents=True, exist_ok=True)

    def copy(src: Path) -> None:
        rel = src.relative_to(repo)
        dest = mirror / rel
        if dest.exists() and dest.read_bytes() == src.read_bytes():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        copied.append(str(rel))

    for path in sorted((repo / "targets").rglob("*")) if (repo / "targets").exists() else []:
        if path.is_file():
            copy(path)
    metadata = repo / "metadata"
    for path in sorted(metadata.glob("[0-9]*.json")):
        copy(path)
    copy(metadata / "root.json")
    copy(metadata / "timestamp.json")
    return copied


def describe(repo: Path) -> dict[str, object]:
    """Versions and expiry of the current metadata and the released apps (for ``release.py status``)."""
    timestamp, snapshot, targets = _latest(repo)
    root = _read(repo, "root.json")
    releases = {
        path: info.unrecognized_fields.get("custom", {}).get("version")
        for path, info in targets.signed.targets.items()
        if path.endswith("/" + RELEASE_POINTER)
    }
    return {
        role: {"version": md.signed.version, "expires": md.signed.expires.isoformat()}
        for role, md in (
            ("root", root),
            ("targets", targets),
            ("snapshot", snapshot),
            ("timestamp", timestamp),
        )
    } | {"releases": releases, "spec_version": ".".join(SPECIFICATION_VERSION)}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()
