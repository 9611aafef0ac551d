"""Sign and publish releases as TUF metadata (``shared/update/repository.py`` does the work).

    python packaging/release.py keys    --keys KEYS                       # once: root, targets, snapshot, timestamp
    python packaging/release.py init    --keys KEYS --repo REPO           # once: root v1, empty targets
    python packaging/release.py add     --keys KEYS --repo REPO --app triage --version 1.2.0 \\
                                        dist/clinic-triage-1.2.0-windows-amd64.tar.gz [--platform windows-amd64]
    python packaging/release.py refresh --keys KEYS --repo REPO           # scheduled: re-sign snapshot + timestamp
    python packaging/release.py publish --repo REPO --mirror /srv/www/clinic-updates
    python packaging/release.py status  --repo REPO

``KEYS/offline`` (root, targets) lives on removable media that only the release manager attaches for
``init`` and ``add``; ``KEYS/online`` (snapshot, timestamp) is all ``refresh`` needs, so it can run daily
from a scheduler (the timestamp expires after a day, the snapshot after a week: a mirror nobody refreshes
goes stale and clients refuse it). Set ``CLINIC_RELEASE_PASSPHRASE`` to encrypt/decrypt the key files.
The mirror folder can be served by any static web server (IIS, nginx, ``python -m http.server``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.update.repository import (  # noqa: E402
    DEFAULT_DAYS,
    ReleaseError,
    add_release,
    create_keys,
    describe,
    init_repository,
    publish,
    refresh,
)

_ARTIFACT = re.compile(
    r"^clinic-(?P<app>[a-z]+)-(?P<version>\d+\.\d+\.\d+)-(?P<platform>[a-z0-9_]+-[a-z0-9_]+)\.tar\.gz$"
)


def _days(args: argparse.Namespace) -> dict[str, float]:
    return {
        role: float(getattr(args, f"{role}_days"))
        for role in DEFAULT_DAYS
        if getattr(args, f"{role}_days", None)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sign and publish Clinic Suite releases (TUF)")
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("keys", help="create the four role keys (never overwrites)")
    keys.add_argument("--keys", type=Path, required=True)
    for name in ("init", "add", "refresh"):
        p = sub.add_parser(name)
        p.add_argument("--keys", type=Path, required=True)
        p.add_argument("--repo", type=Path, required=True)
        for role, days in DEFAULT_DAYS.items():
            p.add_argument(f"--{role}-days", type=float, help=f"lifetime of {role} metadata (default {days})")
    add = sub.choices["add"]
    add.add_argument("artifact", type=Path, help="dist/clinic-<app>-<version>-<platform>.tar.gz")
    add.add_argument("--app", help="default: from the artifact's name")
    add.add_argument("--version", help="default: from the artifact's name")
    add.add_argument("--platform", help="default: from the artifact's name")
    add.add_argument("--entry", help="the executable in the bundle (default clinic-<app>)")
    pub = sub.add_parser("publish", help="copy the repository to the mirror folder (timestamp last)")
    pub.add_argument("--repo", type=Path, required=True)
    pub.add_argument("--mirror", type=Path, required=True)
    status = sub.add_parser("status", help="metadata versions, expiry and released versions")
    status.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "keys":
            ids = create_keys(args.keys)
            sys.stdout.write(json.dumps(ids, indent=2) + "\n")
            sys.stdout.write(
                f"move {args.keys / 'offline'} to removable media; keep a second copy in a safe\n"
            )
        elif args.command == "init":
            init_repository(args.repo, args.keys, days=_days(args))
            sys.stdout.write(
                f"repository created; ship {args.repo / 'metadata' / '1.root.json'} in builds "
                "(python packaging/build.py --trusted-root …)\n"
            )
        elif args.command == "add":
            match = _ARTIFACT.match(args.artifact.name)
            app = args.app or (match and match["app"])
            version = args.version or (match and match["version"])
            platform = args.platform or (match and match["platform"])
            if not (app and version and platform):
                parser.error("give --app, --version and --platform (the artifact's name does not say)")
            release = add_release(
                args.repo,
                args.keys,
                args.artifact,
                app=app,
                version=version,
                platform=platform,
                entry=args.entry or f"clinic-{app}",
                days=_days(args),
            )
            sys.stdout.write(f"signed {release.app} {release.version} for {release.platform}\n")
        elif args.command == "refresh":
            version = refresh(args.repo, args.keys, days=_days(args))
            sys.stdout.write(f"timestamp version {version}\n")
        elif args.command == "publish":
            copied = publish(args.repo, args.mirror)
            sys.stdout.write(f"{len(copied)} file(s) copied to {args.mirror}\n")
        else:
            sys.stdout.write(json.dumps(describe(args.repo), indent=2) + "\n")
    except ReleaseError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
