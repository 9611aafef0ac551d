"""The site configuration IT deploys to a clinic PC: one TOML file, validated, with per-user overrides
only where IT allows them.

Where it is found: ``$CLINIC_SITE_CONFIG`` if set, else ``site.toml`` in the platform's site config
folder (``C:\\ProgramData\\ClinicSuite`` on Windows, ``/etc/xdg/ClinicSuite`` on Linux). A missing file
gives the defaults (a demo PC talking to ``http://127.0.0.1:8750``). User overrides live in
``user.toml`` in the user's config folder and may only set keys listed in ``user_may_override``
(a section name such as ``printers`` or ``display`` allows every key under it).

Apps read it with ``load_site_config()`` and use the sections they need: ``printers`` by document kind,
``display`` for the waiting-room screen, ``voice`` for calling, ``rooms`` this PC serves, and so on.
Loading checks structure and types (unknown keys, wrong types, bad URLs) and refuses a bad file with
every problem listed; ``check_site_config()`` adds the checks that look at the PC itself (printer
target kinds, the CA certificate file, the voice pack) and is what ``clinic config check`` reports.
An example with every key: ``packaging/site.example.toml``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from shared.domain.queue_numbers import desk_slot_problem, slot_message
from shared.errors import SuiteError
from shared.i18n import DEFAULT_LANGUAGE, normalize_language, register, tr

SITE_CONFIG_ENV = "CLINIC_SITE_CONFIG"
USER_CONFIG_ENV = "CLINIC_USER_CONFIG"
APP_DIR_NAME = "ClinicSuite"

DocumentKind = Literal[
    "ticket", "prescription", "visit_note", "pick_list", "drug_label", "receipt", "waybill", "report"
]
# Printer target kinds (``scheme:rest``) the printing code knows; see PrinterSetting.
PRINTER_SCHEMES = ("file", "usb", "tcp", "serial", "cups", "win", "none")
# Keys a user may never override, whatever IT lists (a user could otherwise widen their own rights).
NEVER_USER_KEYS = ("user_may_override",)


MAX_SERVERS = 5


def _short(value: str) -> str:
    if len(value) > 300:
        raise PydanticCustomError("config.bad_url", "not a valid http(s) URL: {value}", {"value": value[:40]})
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # TOML is typed: "8750" is not a number


def _http_url(value: str, *, allow_empty: bool) -> str:
    value = value.strip()
    if not value and allow_empty:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("config.bad_url", "not a valid http(s) URL: {value}", {"value": value})
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise PydanticCustomError(
            "config.bad_url", "not a valid http(s) URL: {value}", {"value": value}
        ) from None
    return value.rstrip("/")


class PrinterSetting(_Section):
    """Where one kind of document goes. ``target``: ``file:/path`` (PDF or raw bytes to a file or folder),
    ``usb:VID:PID``, ``tcp:host:port`` (raw 9100), ``serial:/dev/ttyUSB0``, ``cups:queue``,
    ``win:Printer Name``, or ``none``. The target is not checked when the setting is built (a desk
    reports a bad one when it prints); ``check_site_config`` reports unknown kinds."""

    target: str = Field(default="none", max_length=300)
    paper: str = Field(default="", max_length=32)  # e.g. A5, A4, 80mm, 70x50mm, 100x150mm
    encoding: Literal["gb18030", "raster"] = "gb18030"  # ESC/POS text path for thermal printers
    copies: int = Field(default=1, ge=1, le=10)

    @property
    def scheme(self) -> str:
        target = (self.target or "none").strip()
        return target.partition(":")[0].lower() if ":" in target else target.lower()


class DisplaySetting(_Section):
    screen_name: str = Field(default="", max_length=200)  # QScreen.name(); empty = the primary screen
    full_screen: bool = True
    queue_codes: list[str] = Field(default_factory=list, max_length=50)  # empty = every queue of the campus
    departments: list[str] = Field(default_factory=list, max_length=50)  # department codes; empty = all
    rooms: list[str] = Field(default_factory=list, max_length=200)  # room codes; empty = all
    hide_idle_rooms: bool = True  # leave out rooms with no doctor and nobody waiting
    page_seconds: int = Field(default=10, ge=3, le=120)  # how long each page of rooms stays up
    theme: Literal["dark", "light"] = "dark"
    english: bool = False  # English lines under the Chinese on the waiting-room display


class VoiceSetting(_Section):
    pack: str = Field(default="zh-CN-espeak", max_length=100)  # a built-in pack name or a folder
    engine: Literal["pack", "espeak", "sapi", "none"] = "pack"
    repeat: int = Field(default=2, ge=1, le=5)
    volume: float = Field(default=1.0, ge=0.0, le=1.0)


class SiteConfig(_Section):
    """Everything IT sets for one PC."""

    # the central API, or a list of servers tried in order: the clinic hub first, the central API second
    # (``shared.sync.transport``: a PC uses the first that answers and goes back to an earlier one as
    # soon as it answers again)
    server_url: str | list[str] = Field(default="http://127.0.0.1:8750")
    ca_certificate: str = Field(default="", max_length=500)  # a PEM file; empty = the system's CAs
    campus: str = Field(default="", max_length=32)  # campus code; empty = chosen at login
    pharmacy: str = Field(default="", max_length=32)  # pharmacy code the pharmacy desk serves
    rooms: list[str] = Field(default_factory=list, max_length=50)  # room codes this PC serves
    # numbering slot this triage desk wishes for: 1 … slots-1 (0: any; the server assigns, ``queue_numbers``)
    queue_desk_slot: int = Field(default=0, ge=0, le=99)
    printers: dict[DocumentKind, PrinterSetting] = Field(default_factory=dict)
    display: DisplaySetting = Field(default_factory=DisplaySetting)
    voice: VoiceSetting = Field(default_factory=VoiceSetting)
    update_mirror: str = Field(default="", max_length=300)  # http(s) URL of the TUF mirror; empty = none
    update_check_at_start: bool = True  # a quiet check for a newer release when an app starts
    idle_lock_minutes: float = Field(default=10.0, ge=1.0, le=240.0)
    language: Literal["zh-CN", "zh-TW", "en"] = "zh-CN"
    data_folder: str = Field(default="", max_length=500)
    # printers: out of the box the user picks this PC's printers (IT locks them by leaving it out)
    user_may_override: list[str] = Field(default_factory=lambda: ["language", "display.theme", "printers"])

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            return _http_url(_short(value), allow_empty=False)
        if not 1 <= len(value) <= MAX_SERVERS:
            raise PydanticCustomError(
                "config.server_list", "list 1 to {most} server URLs", {"most": MAX_SERVERS}
            )
        urls = [_http_url(_short(url), allow_empty=False) for url in value]
        if len(set(urls)) != len(urls):
            raise PydanticCustomError("config.server_list_repeat", "a server is listed twice", {})
        return urls

    @property
    def server_urls(self) -> list[str]:
        """``server_url`` as a list, in the order a PC tries them."""
        return [self.server_url] if isinstance(self.server_url, str) else list(self.server_url)

    @field_validator("update_mirror")
    @classmethod
    def _mirror(cls, value: str) -> str:
        return _http_url(value, allow_empty=True)

    @field_validator("user_may_override")
    @classmethod
    def _overridable(cls, value: list[str]) -> list[str]:
        for key in value:
            if key in NEVER_USER_KEYS or not _is_setting(key):
                raise PydanticCustomError(
                    "config.unknown_override",
                    "{value} in user_may_override is not a setting that can be overridden",
                    {"value": key},
                )
        return value

    def printer(self, kind: DocumentKind) -> PrinterSetting:
        return self.printers.get(kind, PrinterSetting())


def _is_setting(key: str) -> bool:
    head, _, rest = key.partition(".")
    field = SiteConfig.model_fields.get(head)
    if field is None:
        return False
    if not rest:
        return True
    if head == "printers":
        return rest in DocumentKind.__args__  # type: ignore[attr-defined]
    sections: dict[str, type[BaseModel]] = {"display": DisplaySetting, "voice": VoiceSetting}
    section = sections.get(head)
    return section is not None and rest in section.model_fields


class SiteConfigError(SuiteError):
    """The site configuration cannot be used; ``problems`` lists each as 'where: what'."""

    code = "site_config_invalid"

    def __init__(self, path: Path, problems: list[str], *, lang: str = DEFAULT_LANGUAGE) -> None:
        self.path = path
        self.problems = problems
        headline = tr("config.problems", lang, count=len(problems), path=path)
        super().__init__(f"{headline}: " + "; ".join(problems))


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
    """Dotted keys down to one setting: ``display.theme``, ``printers.receipt`` (a whole printer)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix.startswith("printers."):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _allowed(key: str, allowed: list[str]) -> bool:
    if key.split(".")[0] in NEVER_USER_KEYS:
        return False
    parts = key.split(".")
    return any(".".join(parts[:n]) in allowed for n in range(1, len(parts) + 1))


def _merge_user(
    site: dict[str, Any], user: dict[str, Any], allowed: list[str], path: Path, lang: str = DEFAULT_LANGUAGE
) -> dict[str, Any]:
    refused = [key for key in _flatten(user) if not _allowed(key, allowed)]
    if refused:
        raise SiteConfigError(
            path, [f"{key}: {tr('config.user_refused', lang)}" for key in refused], lang=lang
        )
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in site.items()}
    for key, value in _flatten(user).items():
        target = merged
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return merged


# pydantic error types worth saying in the user's language; others keep pydantic's English text.
_TYPE_KEYS = {
    "extra_forbidden": "config.unknown_key",
    "int_parsing": "config.want_int",
    "int_type": "config.want_int",
    "float_parsing": "config.want_number",
    "float_type": "config.want_number",
    "bool_parsing": "config.want_bool",
    "bool_type": "config.want_bool",
    "string_type": "config.want_text",
    "list_type": "config.want_list",
    "model_type": "config.want_table",
    "dict_type": "config.want_table",
    "literal_error": "config.want_one_of",
    "greater_than_equal": "config.too_small",
    "less_than_equal": "config.too_large",
    "too_long": "config.too_long",
    "string_too_long": "config.too_long",
}


def _closest_setting(loc: list[str]) -> str:
    """For a misspelt key, the setting it most likely meant (``update_mirorr`` -> ``update_mirror``)."""
    *parents, name = loc
    sections: dict[str, type[BaseModel]] = {"display": DisplaySetting, "voice": VoiceSetting}
    if not parents:
        model: type[BaseModel] | None = SiteConfig
    elif parents[0] == "printers" and len(parents) == 2:
        model = PrinterSetting
    else:
        model = sections.get(parents[0]) if len(parents) == 1 else None
    if model is None:
        return ""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.7)
    return ".".join([*parents, close[0]]) if close else ""


def _problem_text(err: Any, lang: str) -> str:
    kind = str(err["type"])
    ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
    key = kind if kind.startswith("config.") else _TYPE_KEYS.get(kind)
    if key is None:
        return str(err["msg"])
    if key == "config.unknown_key":
        hint = _closest_setting([str(p) for p in err["loc"]])
        return tr("config.unknown_key_hint", lang, hint=hint) if hint else tr(key, lang)
    if "input" in err and "value" not in ctx:
        ctx["value"] = err["input"]
    try:
        return tr(key, lang, **ctx)
    except (KeyError, IndexError):
        return str(err["msg"])


def _problems(exc: ValidationError, lang: str = DEFAULT_LANGUAGE) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "[key]")
        out.append(f"{where}: {_problem_text(err, lang)}")
    return out


def parse_site_config(data: dict[str, Any], path: Path, *, lang: str | None = None) -> SiteConfig:
    language = normalize_language(lang or str(data.get("language") or ""))
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise SiteConfigError(path, _problems(exc, language), lang=language) from exc


def load_site_config(
    path: Path | None = None, *, user_path: Path | None = None, lang: str | None = None
) -> SiteConfig:
    """The PC's configuration: the site file (defaults if absent) with allowed per-user overrides.
    Raises ``SiteConfigError`` listing every problem, in ``lang`` (default: the file's language)."""
    site_path = path or site_config_path()
    site_data = _read_toml(site_path)
    site = parse_site_config(site_data, site_path, lang=lang)
    upath = user_path or user_config_path()
    user_data = _read_toml(upath)
    if not user_data:
        return site
    language = normalize_language(lang or site.language)
    merged = _merge_user(site_data, user_data, site.user_may_override, upath, language)
    return parse_site_config(merged, upath, lang=language)


def _known_voice_pack(pack: str) -> bool:
    if (Path(pack).expanduser() / "manifest.json").is_file():
        return True
    packs = Path(__file__).resolve().parent / "audio" / "packs"
    return any((packs / name / "manifest.json").is_file() for name in {pack, pack.replace("-", "_")})


def _can_write(folder: Path) -> bool:
    """The folder exists and this user may create files in it, or it can be created."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def check_site_config(config: SiteConfig, *, lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """What a structurally valid configuration still gets wrong on this PC, as 'where: what' lines:
    unknown printer target kinds, a CA certificate file that is missing or not PEM, a data folder that
    is not an absolute path here or cannot be written, an unknown voice pack."""
    problems: list[str] = []
    schemes = ", ".join(s + ":" for s in PRINTER_SCHEMES[:-1]) + ", none"
    for kind, setting in sorted(config.printers.items()):
        if setting.scheme not in PRINTER_SCHEMES:
            problems.append(
                f"printers.{kind}.target: "
                + tr("config.bad_printer", lang, value=setting.target, schemes=schemes)
            )
    if config.ca_certificate:
        ca = Path(config.ca_certificate).expanduser()
        if not ca.is_file():
            problems.append("ca_certificate: " + tr("config.missing_ca", lang, value=ca))
        elif b"-----BEGIN CERTIFICATE-----" not in ca.read_bytes()[:1_000_000]:
            problems.append("ca_certificate: " + tr("config.bad_ca", lang, value=ca))
    if config.data_folder:
        folder = Path(config.data_folder).expanduser()
        if not folder.is_absolute():
            problems.append("data_folder: " + tr("config.relative_folder", lang, value=config.data_folder))
        elif not _can_write(folder):
            problems.append("data_folder: " + tr("config.folder_not_writable", lang, value=folder))
    if config.voice.engine != "none" and not _known_voice_pack(config.voice.pack):
        problems.append("voice.pack: " + tr("config.unknown_voice_pack", lang, value=config.voice.pack))
    if "queue_desk_slot" in config.model_fields_set:  # a PC that is no triage desk leaves it out
        slot_problem = desk_slot_problem(config.queue_desk_slot)
        if slot_problem is not None:
            problems.append("queue_desk_slot: " + slot_message(slot_problem, config.queue_desk_slot, lang))
    return problems


_TEXTS: dict[str, dict[str, str]] = {
    "config.ok": {
        "zh_CN": "配置有效：{path}",
        "en": "The configuration is valid: {path}",
        "zh_TW": "配置有效：{path}",
    },
    "config.missing_file": {
        "zh_CN": "配置文件不存在：{path}（将使用默认值）",
        "en": "No configuration file at {path} (defaults apply)",
        "zh_TW": "配置文件不存在：{path}（將使用默認值）",
    },
    "config.problems": {
        "zh_CN": "配置有 {count} 处问题：{path}",
        "en": "{count} problem(s) in the configuration {path}",
        "zh_TW": "配置有 {count} 處問題：{path}",
    },
    "config.unknown_key": {
        "zh_CN": "未知的配置项",
        "en": "unknown setting",
        "zh_TW": "未知的配置項",
    },
    "config.unknown_key_hint": {
        "zh_CN": "未知的配置项（是否应为 {hint}？）",
        "en": "unknown setting (did you mean {hint}?)",
        "zh_TW": "未知的配置項（是否應為 {hint}？）",
    },
    "config.bad_url": {
        "zh_CN": "不是有效的 http(s) 地址：{value}",
        "en": "not a valid http(s) URL: {value}",
        "zh_TW": "不是有效的 http(s) 地址：{value}",
    },
    "config.server_list": {
        "zh_CN": "请列出 1 至 {most} 个服务器地址（本院中转服务器在前，中心服务器在后）",
        "en": "list 1 to {most} server URLs (the clinic hub first, the central server second)",
        "zh_TW": "請列出 1 至 {most} 個伺服器地址（本院中轉伺服器在前，中心伺服器在後）",
    },
    "config.server_list_repeat": {
        "zh_CN": "同一服务器地址重复列出",
        "en": "a server URL is listed twice",
        "zh_TW": "同一伺服器地址重複列出",
    },
    "config.bad_printer": {
        "zh_CN": "未知的打印机类型 {value}（可用：{schemes}）",
        "en": "unknown printer target {value} (use one of: {schemes})",
        "zh_TW": "未知的打印機類型 {value}（可用：{schemes}）",
    },
    "config.missing_ca": {
        "zh_CN": "CA 证书文件不存在：{value}",
        "en": "the CA certificate file does not exist: {value}",
        "zh_TW": "CA 證書文件不存在：{value}",
    },
    "config.bad_ca": {
        "zh_CN": "CA 证书文件不是 PEM 证书：{value}",
        "en": "the CA certificate file is not a PEM certificate: {value}",
        "zh_TW": "CA 證書文件不是 PEM 證書：{value}",
    },
    "config.user_refused": {
        "zh_CN": "IT 不允许按用户修改此项",
        "en": "IT does not allow a per-user value here",
        "zh_TW": "IT 不允許按用戶修改此項",
    },
    "config.unknown_override": {
        "zh_CN": "user_may_override 中的 {value} 不是可覆盖的配置项",
        "en": "{value} in user_may_override is not a setting that can be overridden",
        "zh_TW": "user_may_override 中的 {value} 不是可覆蓋的配置項",
    },
    "config.relative_folder": {
        "zh_CN": "不是本机的绝对路径：{value}",
        "en": "not an absolute path on this PC: {value}",
        "zh_TW": "不是本機的絕對路徑：{value}",
    },
    "config.folder_not_writable": {
        "zh_CN": "当前用户无法写入此文件夹：{value}",
        "en": "this user cannot write to the folder: {value}",
        "zh_TW": "當前用戶無法寫入此文件夾：{value}",
    },
    "config.unknown_voice_pack": {
        "zh_CN": "找不到语音包 {value}（文件夹或内置包名）",
        "en": "voice pack {value} not found (a folder or a built-in pack name)",
        "zh_TW": "找不到語音包 {value}（文件夾或內置包名）",
    },
    "config.want_int": {
        "zh_CN": "应为整数，而不是 {value!r}",
        "en": "should be a whole number, not {value!r}",
        "zh_TW": "應為整數，而不是 {value!r}",
    },
    "config.want_number": {
        "zh_CN": "应为数字，而不是 {value!r}",
        "en": "should be a number, not {value!r}",
        "zh_TW": "應為數字，而不是 {value!r}",
    },
    "config.want_bool": {
        "zh_CN": "应为 true 或 false，而不是 {value!r}",
        "en": "should be true or false, not {value!r}",
        "zh_TW": "應為 true 或 false，而不是 {value!r}",
    },
    "config.want_text": {
        "zh_CN": "应为文本（加引号），而不是 {value!r}",
        "en": "should be text (in quotes), not {value!r}",
        "zh_TW": "應為文本（加引號），而不是 {value!r}",
    },
    "config.want_list": {
        "zh_CN": "应为列表 [ ... ]，而不是 {value!r}",
        "en": "should be a list [ ... ], not {value!r}",
        "zh_TW": "應為列表 [ ... ]，而不是 {value!r}",
    },
    "config.want_table": {
        "zh_CN": "应为一个表 [section]",
        "en": "should be a table [section]",
        "zh_TW": "應為一個表 [section]",
    },
    "config.want_one_of": {
        "zh_CN": "应为 {expected} 之一，而不是 {value!r}",
        "en": "should be one of {expected}, not {value!r}",
        "zh_TW": "應為 {expected} 之一，而不是 {value!r}",
    },
    "config.too_small": {
        "zh_CN": "不能小于 {ge}（现为 {value}）",
        "en": "must be at least {ge} (is {value})",
        "zh_TW": "不能小於 {ge}（現為 {value}）",
    },
    "config.too_large": {
        "zh_CN": "不能大于 {le}（现为 {value}）",
        "en": "must be at most {le} (is {value})",
        "zh_TW": "不能大於 {le}（現為 {value}）",
    },
    "config.too_long": {
        "zh_CN": "太长（最多 {max_length}）",
        "en": "too long (at most {max_length})",
        "zh_TW": "太長（最多 {max_length}）",
    },
}

for _key, _value in _TEXTS.items():
    register(_key, _value)
