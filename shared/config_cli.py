"""``clinic config check [--file site.toml] [--user-file user.toml]`` and ``clinic config show``: validate
this PC's site configuration with every problem listed in plain words, or print what an app would use.

Exit codes: 0 valid, 1 problems found (each printed as ``where: what``), 2 the file does not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from shared.i18n import LANGUAGES, normalize_language, tr
from shared.site import (
    SiteConfigError,
    check_site_config,
    load_site_config,
    site_config_path,
    user_config_path,
)


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("check", "show"), help="check: validate; show: print the result")
    parser.add_argument("--file", type=Path, help="the site file (default: $CLINIC_SITE_CONFIG or the PC's)")
    parser.add_argument("--user-file", type=Path, help="a user's overrides (default: this user's user.toml)")
    parser.add_argument("--lang", choices=LANGUAGES, help="message language")


def _run(args: argparse.Namespace) -> int:
    path = args.file or site_config_path()
    user = args.user_file or user_config_path()
    lang = normalize_language(args.lang) if args.lang else None
    try:
        config = load_site_config(path, user_path=user, lang=lang)
    except SiteConfigError as exc:
        shown = normalize_language(lang) if lang else "zh_CN"
        sys.stdout.write(tr("config.problems", lang or shown, count=len(exc.problems), path=exc.path) + "\n")
        for problem in exc.problems:
            sys.stdout.write(f"  - {problem}\n")
        return 1
    lang = lang or normalize_language(config.language)
    if args.action == "show":
        sys.stdout.write(json.dumps(config.model_dump(), ensure_ascii=False, indent=2) + "\n")
        return 0
    if not path.exists():
        sys.stdout.write(tr("config.missing_file", lang, path=path) + "\n")
        return 2 if args.file else 0
    problems = check_site_config(config, lang=lang)
    if problems:
        sys.stdout.write(tr("config.problems", lang, count=len(problems), path=path) + "\n")
        for problem in problems:
            sys.stdout.write(f"  - {problem}\n")
        return 1
    sys.stdout.write(tr("config.ok", lang, path=path) + "\n")
    return 0


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "config": (_args, _run),
}
