"""A PC's printer settings: which printer each document kind goes to, where the user may change them, the
out-of-the-box default, and a test page per kind. Used by every app's printer-settings screen.

IT's ``site.toml`` maps document kinds to printers. When ``user_may_override`` lists ``printers`` (the
default) the user's choices are written to ``user.toml`` (its other keys are kept); otherwise IT manages
them and they are read-only on this PC. A kind the site does not map prints to a file in
``<data folder>/prints`` (a default file printer per kind), so nothing is lost before anyone chose a
printer, and the apps say "saved to a file" rather than "printed".
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.units import mm

from shared import clinic_time
from shared.printing.escpos import EscPos
from shared.printing.kinds import KINDS, Content
from shared.printing.pdf_common import render_pdf
from shared.site import PrinterSetting, SiteConfig, user_config_path

PRINTS_FOLDER = "prints"


def may_edit(site: SiteConfig) -> bool:
    """Whether this PC's user may choose printers (``printers`` in ``user_may_override``)."""
    return any(key == "printers" or key.startswith("printers.") for key in site.user_may_override)


def default_setting(kind: str, data_folder: Path) -> PrinterSetting:
    """The setting of a kind nobody mapped: a file printer in ``<data folder>/prints``."""
    paper = KINDS[kind].default_paper if kind in KINDS else ""
    return PrinterSetting(target=f"file:{data_folder / PRINTS_FOLDER}", paper=paper)


def printer_setting(site: SiteConfig, kind: str, data_folder: Path | None) -> PrinterSetting:
    """The setting a job of ``kind`` prints with: the site's (an explicit ``none`` stays ``none``), else
    the default file printer when a data folder is known."""
    configured = site.printers.get(kind)  # type: ignore[call-overload]
    if configured is not None or data_folder is None:
        return configured or PrinterSetting()
    return default_setting(kind, data_folder)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def dumps_toml(data: dict[str, Any]) -> str:
    """TOML for the small nested tables of a user.toml (scalars, lists, tables of tables)."""
    out: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in body.items() if isinstance(v, dict)}
        if prefix and scalars:
            out.append(f"\n[{prefix}]")
        for key, value in scalars.items():
            out.append(f"{key} = {_toml_value(value)}")
        for key, value in tables.items():
            table(f"{prefix}.{key}" if prefix else key, value)

    table("", data)
    return "\n".join(out).lstrip("\n") + "\n"


def save_user_printers(printers: dict[str, PrinterSetting], path: Path | None = None) -> Path:
    """Write the printers into the user's ``user.toml``, keeping its other keys."""
    target = path or user_config_path()
    try:
        with target.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        data = {}
    data["printers"] = {kind: setting.model_dump() for kind, setting in printers.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(dumps_toml(data), encoding="utf-8")
    tmp.replace(target)
    return target


def _page_size(kind: str, paper: str) -> tuple[float, float]:
    paper = paper.lower()
    if paper == "a5":
        return A5
    if "x" in paper:
        width, _, height = paper.removesuffix("mm").partition("x")
        try:
            return float(width) * mm, float(height) * mm
        except ValueError:
            return A4
    return A4


def pdf_test_page(kind: str, title: str, paper: str) -> bytes:
    """A test page on ``paper``: Chinese (simplified and traditional), an amount, the kind and the time."""
    page = _page_size(kind, paper)

    def draw(canvas: Any, pen: Any) -> None:
        w, h = page
        size = 18 if w > 200 * mm / 2 else 10
        pen.text(
            12 * mm if w < 120 * mm else 40, h - 2 * size - 10, f"打印机测试页  {title}", size, bold=True
        )
        pen.text(
            12 * mm if w < 120 * mm else 40,
            h - 3.5 * size - 10,
            "中文显示：门诊 處方 藥袋標籤  ￥12.80",
            size * 0.66,
        )
        pen.text(
            12 * mm if w < 120 * mm else 40,
            h - 4.7 * size - 10,
            f"单据类型：{kind}    {clinic_time.now():%Y-%m-%d %H:%M}",
            size * 0.55,
        )
        canvas.rect(8, 8, w - 16, h - 16)

    return render_pdf(page, title=f"test {kind}", author="Clinic Suite", draw=draw)


def escpos_test_page(title: str, paper: str) -> bytes:
    """A thermal test slip: Chinese through GB18030, an amount, a QR code and a cut."""
    columns = 32 if paper.startswith("58") else 48
    out = EscPos().init().align("center").bold().size(2, 2).line("打印机测试页").size().bold(False)
    out.line(title).align("left").line("-" * columns).line("中文：门诊 處方 藥袋標籤").line("金额：￥25.60")
    out.line(f"{clinic_time.now():%Y-%m-%d %H:%M}").align("center").qr("clinic:test").feed(2).cut()
    return out.build()


def test_page(kind: str, setting: PrinterSetting, title: str) -> tuple[Content, bytes]:
    """(content, bytes) of a generic test page for ``kind`` on ``setting``'s paper (apps may print their
    own sample document instead, e.g. the pharmacy's receipt and label)."""
    spec = KINDS.get(kind)
    paper = setting.paper or (spec.default_paper if spec else "A4")
    if spec is not None and spec.content == "escpos":
        return "escpos", escpos_test_page(title, paper)
    return "pdf", pdf_test_page(kind, title, paper)


def demo_site_toml(server_url: str, prints: Path) -> str:
    """The site file ``./run demo`` gives its apps: every kind prints to a file printer of its own under
    ``prints`` (``var/prints/<kind>``), and the printers screen stays editable."""
    data: dict[str, Any] = {
        "server_url": server_url,
        "user_may_override": ["language", "display.theme", "printers"],
        "printers": {
            key: {"target": f"file:{prints / key}", "paper": spec.default_paper}
            for key, spec in KINDS.items()
        },
    }
    return dumps_toml(data)


def write_demo_site(path: str | Path, server_url: str, prints: str | Path) -> Path:
    """Write ``demo_site_toml`` to ``path`` unless a file is there already (a changed demo PC stays)."""
    target = Path(path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(demo_site_toml(server_url, Path(prints).resolve()), encoding="utf-8")
    return target
