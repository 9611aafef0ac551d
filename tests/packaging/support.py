"""A static update mirror on loopback (Range requests, injectable cut-offs) and tiny fake releases."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
import textwrap
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAKE_APP = textwrap.dedent(
    """
    import json, sqlite3, sys
    from pathlib import Path
    VERSION = {version!r}
    SCHEMA = {schema}
    BROKEN = {broken}

    def self_test(folder):
        folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(folder / "triage.db")
        have = db.execute("PRAGMA user_version").fetchone()[0]
        if have > SCHEMA:
            raise SystemExit(f"database schema {{have}} is newer than this version's {{SCHEMA}}")
        db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, body TEXT)")
        if have < SCHEMA:
            db.execute(f"ALTER TABLE outbox ADD COLUMN v{{SCHEMA}} TEXT")
            db.execute(f"PRAGMA user_version = {{SCHEMA}}")
            db.commit()
            if BROKEN:
                raise SystemExit("migration {{SCHEMA}} failed half-way")
        db.close()
        print(json.dumps({{"app": "triage", "ok": True, "version": VERSION}}))

    args = sys.argv[1:]
    if "--self-test" in args:
        self_test(Path(args[args.index("--data-folder") + 1]))
    elif "--version" in args:
        print(VERSION)
    """
)


def fake_release(folder: Path, version: str, *, schema: int = 1, broken: bool = False) -> Path:
    """``clinic-triage-<version>-test.tar.gz``: a launcher script and the tiny app above."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"clinic-triage-{version}-test.tar.gz"
    files = {
        "clinic-triage": (
            f'#!/bin/sh\nexec "{sys.executable}" "$(dirname "$0")/_internal/app.py" "$@"\n',
            0o755,
        ),
        "_internal/app.py": (FAKE_APP.format(version=version, schema=schema, broken=broken), 0o644),
        "_internal/_build_info.json": (json.dumps({"app": "triage", "version": version}), 0o644),
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return path


def install_fake(root: Path, version: str, *, schema: int = 1) -> None:
    """An installation as the installer leaves it: versions/<v> unpacked and state.json."""
    from shared.update.client import Installation, unpack

    archive = fake_release(root.parent / "fake-initial", version, schema=schema)
    install = Installation(root, "triage")
    unpack(archive, install.versions / version)
    (install.versions / version / "clinic-triage").chmod(0o755 | stat.S_IXUSR)
    install.switch(install.load(), version, note="installed")


class MirrorHandler(SimpleHTTPRequestHandler):
    """Serves the mirror folder with Range support; ``server.cut`` cuts matching downloads short once."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet in tests
        return

    def do_GET(self) -> None:  # noqa: N802
        path = Path(self.translate_path(self.path))
        server: MirrorServer = self.server  # type: ignore[assignment]
        server.requests.append((self.path, self.headers.get("Range", "")))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        status = 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and server.ranges:
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        for fragment, limit in list(server.cut.items()):
            if fragment in self.path:
                del server.cut[fragment]
                self.wfile.write(body[:limit])
                self.wfile.flush()
                self.close_connection = True
                return
        self.wfile.write(body)


class MirrorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cut: dict[str, int] = {}
        self.ranges = True
        self.requests: list[tuple[str, str]] = []
        handler = lambda *a, **k: MirrorHandler(*a, directory=str(folder), **k)  # noqa: E731
        super().__init__(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def __enter__(self) -> MirrorServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def environ_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
