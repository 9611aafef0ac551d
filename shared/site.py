"""The site configuration IT deploys to a clinic PC: one TOML file, validated, with per-user overrides
only where IT allows them.

Where it is found: ``$CLINIC_SITE_CONFIG`` if set, else ``site.toml`` in the platform's site config
folder (``C:\\ProgramData\\ClinicSuite`` on Windows, ``/etc/xdg/ClinicSuite`` on Linux). A missing file
gives the defaults (a demo PC talking to ``http://127.0.0.1:8750``). User overrides live in
``user.toml`` in the user's config folder and may only set keys listed in ``user_may_override``.

Apps read it with ``load_site_config()`` and use the sections they need: ``printers`` by document kind,
``display`` for the waiting-room screen, ``voice`` for calling, ``rooms`` this PC serves, and so on.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import SuiteError

SITE_CONFIG_ENV = "CLINIC_SITE_CONFIG"
USER_CONFIG_ENV = "CLINIC_USER_CONFIG"
APP_DIR_NAME = "ClinicSuite"

DocumentKind = Literal[
    "ticket", "prescription", "visit_note", "pick_list", "drug_label", "receipt", "waybill", "report"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrinterSetting(_Section):
    """Where one kind of document goes. ``target``: ``file:/path`` (PDF or raw bytes to a file or folder),
    ``usb:VID:PID``, ``tcp:host:port`` (raw 9100), ``cups:queue``, ``win:Printer Name``, or ``none``."""

    target: str = Field(default="none", max_length=300)
    paper: str = Field(default="", max_length=32)  # e.g. A5, A4, 80mm, 70x50mm, 100x150mm
    encoding: Literal["gb18030", "raster"] = "gb18030"  # ESC/POS text path for thermal printers
    copies: int = Field(default=1, ge=1, le=10)


class DisplaySetting(_Section):
    screen_name: str = Field(default="", max_length=200)  # QScreen.name(); empty = the primary screen
    full_screen: bool = True
    queue_codes: list[str] = Field(default_factory=list, max_length=50)  # empty = every queue of the campus
    theme: Literal["dark", "light"] = "dark"


class VoiceSetting(_Section):
    pack: str = Field(default="zh-CN-espeak", max_length=100)
    engine: Literal["pack", "espeak", "sapi", "none"] = "pack"
    repeat: int = Field(default=2, ge=1, le=5)
    volume: float = Field(default=1.0, ge=0.0, le=1.0)


class SiteConfig(_Section):
    """Everything IT sets for one PC."""

    server_url: str = Field(default="http://127.0.0.1:8750", max_length=300)
    ca_certificate: str = Field(default="", max_length=500)  # a PEM file; empty = the system's CAs
    campus: str = Field(default="", max_length=32)  # campus code; empty = chosen at login
    pharmacy: str = Field(default="", max_length=32)  # pharmacy code the pharmacy desk serves
    rooms: list[str] = Field(default_factory=list, max_length=50)  # room codes this PC serves
    queue_desk_slot: int = Field(default=0, ge=0, le=99)  # numbering slot of this triage desk
    printers: dict[DocumentKind, PrinterSetting] = Field(default_factory=dict)
    display: DisplaySetting = Field(default_factory=DisplaySetting)
    voice: VoiceSetting = Field(default_factory=VoiceSetting)
    update_mirror: str = Field(default="", max_length=300)
    idle_lock_minutes: float = Field(default=10.0, ge=1.0, le=240.0)
    language: Literal["zh-CN", "zh-TW", "en"] = "zh-CN"
    data_folder: str = Field(default="", max_length=500)
    user_may_override: list[str] = Field(default_factory=lambda: ["language", "display.theme"])

    def printer(self, kind: DocumentKind) -> PrinterSetting:
        return self.printers.get(kind, PrinterSetting())


class SiteConfigError(SuiteError):
    """The site configuration cannot be used; ``problems`` lists each as 'where: what'."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def site_config_path() -> Path:
    env = os.environ.get(SITE_CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.site_config_dir(APP_DIR_NAME, appauthor=False)) / "site.toml"


def user_config_path() -> Path:
    env = os.environ.get(USER_CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP_DIR_NAME, appauthor=False)) / "user.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise SiteConfigError(path, [f"not valid TOML: {exc}"]) from exc
    except OSError as exc:
        raise SiteConfigError(path, [f"cannot be read: {exc.strerror or exc}"]) from exc


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("printers",):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _merge_user(site: dict[str, Any], user: dict[str, Any], allowed: list[str], path: Path) -> dict[str, Any]:
    refused = [key for key in _flatten(user) if key not in allowed]
    if refused:
        raise SiteConfigError(path, [f"{key}: IT does not allow a per-user value here" for key in refused])
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in site.items()}
    for key, value in _flatten(user).items():
        target = merged
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return merged


def _problems(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in err["loc"]) + f": {err['msg']}" for err in exc.errors()]


def parse_site_config(data: dict[str, Any], path: Path) -> SiteConfig:
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise SiteConfigError(path, _problems(exc)) from exc


def load_site_config(path: Path | None = None, *, user_path: Path | None = None) -> SiteConfig:
    """The PC's configuration: the site file (defaults if absent) with allowed per-user overrides."""
    site_path = path or site_config_path()
    site_data = _read_toml(site_path)
    site = parse_site_config(site_data, site_path)
    upath = user_path or user_config_path()
    user_data = _read_toml(upath)
    if not user_data:
        return site
    return parse_site_config(_merge_user(site_data, user_data, site.user_may_override, upath), upath)
