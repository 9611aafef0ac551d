"""``clinic update --check | --apply | --rollback``: the updater from the command line (every app's bundle
answers it too: ``clinic-triage update --check``). Exit codes: 0 done or up to date, 1 refused or
failed, 3 rolled back after a failed self-test, 10 an update is available (``--check``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from shared.errors import SuiteError
from shared.i18n import normalize_language, tr
from shared.update import texts as _texts  # noqa: F401 - registers the messages

log = logging.getLogger(__name__)
APPS = ("triage", "workstation", "pharmacy", "server")


def _args(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="say whether a newer verified release exists")
    action.add_argument("--apply", action="store_true", help="download, verify, install, self-test, switch")
    action.add_argument("--rollback", action="store_true", help="make the previous version current again")
    parser.add_argument("--app", choices=APPS, help="which installed app (default: this bundle's app)")
    parser.add_argument("--install-root", type=Path, help="the app's install folder (default: this bundle's)")
    parser.add_argument(
        "--mirror", help="update mirror URL (default: the site configuration's update_mirror)"
    )
    parser.add_argument("--trusted-root", type=Path, help="TUF root.json to trust on first use")
    parser.add_argument("--data-folder", type=Path, help="the app's local data folder (databases)")
    parser.add_argument("--platform", help="platform tag of the releases (default: this PC's)")
    parser.add_argument("--lang", help="message language: zh-CN, zh-TW or en")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")


def _run(args: argparse.Namespace) -> int:
    from shared.site import SiteConfigError, load_site_config
    from shared.store.paths import data_dir
    from shared.update.build_info import current_build
    from shared.update.client import (
        ApplyResult,
        Installation,
        UpdateClient,
        UpdateError,
        UpdateRolledBack,
    )

    if not getattr(args, "verbose", False):
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per metadata file otherwise
    try:
        site = load_site_config()
    except SiteConfigError as exc:
        sys.stderr.write(f"{exc.message}\n")
        return 1
    lang = normalize_language(args.lang or site.language)
    app = args.app or current_build().app
    if app not in APPS:
        sys.stderr.write("give --app (triage, workstation, pharmacy or server)\n")
        return 2
    install = (
        Installation(args.install_root, app) if args.install_root else Installation.of_running_build(app)
    )
    if install is None:
        sys.stderr.write(tr("update.not_installed", lang) + "\n")
        return 1
    data = args.data_folder or data_dir(site.data_folder or None)
    out: dict[str, object] = {"app": app}
    try:
        client = UpdateClient(
            install,
            args.mirror or site.update_mirror,
            data_folder=Path(data),
            trusted_root=args.trusted_root,
            platform=args.platform,
            ca_certificate=site.ca_certificate,
            lang=lang,
        )
        if args.rollback:
            message = client.rollback()
            code = 0
        elif args.check:
            result = client.check()
            message = result.message
            out["available"] = result.available.version if result.available else None
            code = 10 if result.available else 0
        else:
            applied = client.apply()
            message = applied.message
            if isinstance(applied, ApplyResult):
                out.update(installed=applied.installed, previous=applied.previous)
            code = 0
    except UpdateRolledBack as exc:
        message, code = exc.message, 3
        out["error"] = exc.code
    except (UpdateError, SuiteError) as exc:
        message, code = exc.message, 1
        out["error"] = exc.code
    out["message"] = message
    if args.json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    else:
        (sys.stdout if code in (0, 10) else sys.stderr).write(message + "\n")
    return code


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "update": (_args, _run),
}
