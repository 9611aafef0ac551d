"""Build the frozen one-folder bundles: ``python packaging/build.py [server|hub|triage|workstation|pharmacy|all]``.

Each bundle lands in ``dist/clinic-<app>/`` with ``_build_info.json`` (app, version, git commit, build
time, platform) embedded; ``--archive`` also writes ``dist/clinic-<app>-<version>-<platform>.tar.gz``,
the artifact ``packaging/release.py add`` signs and publishes. ``--self-test`` runs each frozen bundle's
self-test (apps) or starts it and asks ``/healthz`` (server; the hub must answer role "hub") after building.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
APPS = ("server", "hub", "triage", "workstation", "pharmacy")
APP_PACKAGES = {
    "server": "server_stub",
    "hub": "server_stub",
    "triage": "triage_desk",
    "workstation": "workstation",
    "pharmacy": "pharmacy_desk",
}
# A TrueType CJK font reportlab can embed, shipped in app bundles when the build machine has one.
FONT_CANDIDATES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",)


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def platform_tag() -> str:
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    return f"{system}-{platform.machine().lower()}"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def app_available(app: str) -> bool:
    """An app can be built once its package has a ``main.py`` with its commands."""
    return app in ("server", "hub") or (ROOT / APP_PACKAGES[app] / "main.py").is_file()


def make_icon(path: Path) -> Path:
    """A plain icon (white cross on teal) until the clinic supplies its own ``packaging/icons/``."""
    from PIL import Image, ImageDraw

    custom = PACKAGING / "icons" / "clinic.ico"
    if custom.is_file():
        return custom
    image = Image.new("RGBA", (256, 256), (0, 121, 107, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((104, 40, 152, 216), fill="white")
    draw.rectangle((40, 104, 216, 152), fill="white")
    image.save(path, sizes=[(16, 16), (32, 32), (48, 48), (256, 256)])
    return path


def prepare(app: str, work: Path, version: str, trusted_root: Path | None) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    info = {
        "app": app,
        "version": version,
        "commit": git_commit(),
        "built_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "platform": platform_tag(),
        "python": platform.python_version(),
    }
    info_path = work / "_build_info.json"
    info_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    options: dict[str, object] = {
        "build_info": str(info_path),
        "icon": str(make_icon(work / "clinic.ico")) if sys.platform == "win32" else "",
        "console": sys.platform != "win32",
        "fonts": [f for f in FONT_CANDIDATES if Path(f).is_file()] if app not in ("server", "hub") else [],
        "trusted_root": str(trusted_root) if trusted_root else "",
    }
    (work / "options.json").write_text(json.dumps(options, indent=2), encoding="utf-8")
    return info


def build(
    app: str, *, dist: Path, work_root: Path, version: str, trusted_root: Path | None, clean: bool = False
) -> Path:
    """One PyInstaller run. PyInstaller's own cache (``~/.cache/pyinstaller``: analysed binaries) is kept
    between builds and apps, which is most of the time saved; ``clean`` empties only this app's work
    folder (never that shared cache, which another build may be using at the same moment)."""
    work = work_root / app
    if clean:
        shutil.rmtree(work, ignore_errors=True)
    info = prepare(app, work, version, trusted_root)
    env = {**os.environ, "CLINIC_BUILD_DIR": str(work)}
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work / "pyinstaller"),
        str(PACKAGING / f"clinic-{app}.spec"),
    ]
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    bundle = dist / f"clinic-{app}"
    sys.stderr.write(
        f"built {bundle} ({info['version']}, {info['commit'] or 'no commit'}) "
        f"in {time.perf_counter() - started:.0f} s\n"
    )
    return bundle


def sign(bundle: Path) -> None:
    """Authenticode-sign the bundle's executables and libraries before it is archived: signtool through
    ``sign_windows.ps1`` on Windows (``SIGN_PFX`` + ``SIGN_PFX_PASS`` or ``SIGN_THUMBPRINT``), osslsigncode
    through ``sign_osslsigncode.sh`` elsewhere (``SIGN_PFX`` + ``SIGN_PFX_PASS_FILE``); see the scripts."""
    if sys.platform == "win32":
        cmd = ["powershell", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File"]
        cmd += [str(PACKAGING / "sign_windows.ps1"), "-Path", str(bundle)]
        if os.environ.get("SIGN_THUMBPRINT"):
            cmd += ["-Thumbprint", os.environ["SIGN_THUMBPRINT"]]
        elif os.environ.get("SIGN_PFX"):
            cmd += ["-Pfx", os.environ["SIGN_PFX"]]
        if os.environ.get("SIGN_TIMESTAMP_URL"):
            cmd += ["-TimestampUrl", os.environ["SIGN_TIMESTAMP_URL"]]
    else:
        cmd = ["bash", str(PACKAGING / "sign_osslsigncode.sh"), str(bundle)]
    subprocess.run(cmd, check=True)


def executable(bundle: Path) -> Path:
    return bundle / (bundle.name + (".exe" if sys.platform == "win32" else ""))


def archive(bundle: Path, version: str, dist: Path) -> Path:
    """``clinic-<app>-<version>-<platform>.tar.gz`` with the bundle folder's contents at the top."""
    path = dist / f"{bundle.name}-{version}-{platform_tag()}.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        for item in sorted(bundle.iterdir()):
            tar.add(item, arcname=item.name)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_health(bundle: Path, db: Path, timeout: float = 60.0, *, hub: bool = False) -> dict[str, object]:
    """Start the frozen server (or hub) on a free loopback port, GET /healthz, stop it; the answer and
    timings. A hub starts with an upstream nobody answers and must still say role "hub"."""
    port = _free_port()
    started = time.perf_counter()
    args = [str(executable(bundle)), "--db", str(db), "--port", str(port)]
    env = dict(os.environ)
    if hub:
        args += ["--host", "127.0.0.1", "--upstream", f"http://127.0.0.1:{_free_port()}"]
        env["CLINIC_HUB_CREDENTIAL"] = "hub_selftest.not-enrolled"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise RuntimeError(f"frozen server exited with {proc.returncode}: {out[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    body = json.loads(resp.read() or b"{}")
                    if hub and body.get("role") != "hub":
                        raise RuntimeError(f"frozen hub answered /healthz without role hub: {body}")
                    return {"status": resp.status, "body": body, "seconds": time.perf_counter() - started}
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("frozen server did not answer /healthz in time")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def app_self_test(bundle: Path, data_folder: Path) -> dict[str, object]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.perf_counter()
    proc = subprocess.run(
        [str(executable(bundle)), "--self-test", "--data-folder", str(data_folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    seconds = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {}
    if proc.returncode != 0 or not report.get("ok"):
        raise RuntimeError(
            f"self-test of {bundle.name} failed ({proc.returncode}): "
            f"{proc.stdout[-2000:]} {proc.stderr[-3000:]}"
        )
    return {"report": report, "seconds": seconds}


def bundle_bytes(bundle: Path) -> int:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "apps", nargs="*", default=["all"], help="server, hub, triage, workstation, pharmacy or all"
    )
    parser.add_argument("--version", default=project_version(), help="release version (default: pyproject)")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller")
    parser.add_argument("--trusted-root", type=Path, help="the update mirror's root.json to ship (TUF)")
    parser.add_argument("--archive", action="store_true", help="also write the release tarball")
    parser.add_argument("--self-test", action="store_true", help="run each frozen bundle's self-test")
    parser.add_argument("--clean", action="store_true", help="start from an empty work folder")
    parser.add_argument(
        "--sign", action="store_true", help="Authenticode-sign each bundle (before --archive); see sign()"
    )
    args = parser.parse_args(argv)
    apps = list(APPS) if "all" in args.apps else args.apps
    unknown = [a for a in apps if a not in APPS]
    if unknown:
        parser.error(f"unknown app(s): {', '.join(unknown)}")
    missing = [a for a in apps if not app_available(a)]
    if missing:
        sys.stderr.write(f"not built (no {', '.join(APP_PACKAGES[a] + '/main.py' for a in missing)} yet)\n")
        apps = [a for a in apps if a not in missing]
    if shutil.which("git") is None:
        sys.stderr.write("git not found: the build records no commit\n")
    for app in apps:
        bundle = build(
            app,
            dist=args.dist,
            work_root=args.work,
            version=args.version,
            trusted_root=args.trusted_root,
            clean=args.clean,
        )
        if args.sign:
            sign(bundle)
        if args.archive:
            sys.stderr.write(f"release artifact {archive(bundle, args.version, args.dist)}\n")
        if args.self_test:
            scratch = args.work / app / "selftest"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            result = (
                server_health(bundle, scratch / f"{app}.db", hub=app == "hub")
                if app in ("server", "hub")
                else app_self_test(bundle, scratch)
            )
            sys.stderr.write(f"self-test of {bundle.name}: ok ({result['seconds']:.1f} s)\n")
    return 1 if missing and not apps else 0


if __name__ == "__main__":
    raise SystemExit(main())
