"""Per-PC printer settings: which printer each document kind goes to, saved where IT allows it.

IT's ``site.toml`` maps document kinds to printers. When IT lists ``printers`` in ``user_may_override``
the desk writes the user's choices to ``user.toml`` (the other per-user keys there are kept);
otherwise the settings are read-only on this PC. ``test_page`` renders a page of the kind's own sort
(ESC/POS receipt, a label, an A4/A5 PDF) that shows Chinese, amounts and a QR code.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path
from typing import Any

from reportlab.lib.pagesizes import A4, A5

from pharmacy_desk.documents import labels_pdf, receipt_bytes, sample_label, sample_receipt
from shared.printing.pdf_common import render_pdf
from shared.site import PrinterSetting, SiteConfig, user_config_path

PHARMACY_KINDS = ("prescription", "pick_list", "drug_label", "receipt", "waybill", "report")
ESCPOS_KINDS = frozenset({"receipt"})
PAPERS: dict[str, tuple[str, ...]] = {
    "prescription": ("A5", "A4"),
    "pick_list": ("A4",),
    "drug_label": ("70x50mm", "60x40mm"),
    "receipt": ("80mm", "58mm"),
    "waybill": ("100x150mm", "76x130mm"),
    "report": ("A4",),
}


def may_edit(site: SiteConfig) -> bool:
    return any(key == "printers" or key.startswith("printers.") for key in site.user_may_override)


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


def _pdf_test_page(kind: str, title: str, page: tuple[float, float]) -> bytes:
    def draw(canvas: Any, pen: Any) -> None:
        w, h = page
        pen.text(40, h - 60, f"打印机测试页  {title}", 18, bold=True)
        pen.text(40, h - 90, "中文显示：门诊药房 處方 藥袋標籤  ￥12.80", 12)
        pen.text(40, h - 110, f"单据类型：{kind}    时间：{dt.datetime.now():%Y-%m-%d %H:%M}", 10)
        canvas.rect(30, 30, w - 60, h - 60)

    return render_pdf(page, title=f"test {kind}", author="Clinic Suite", draw=draw)


def test_page(kind: str, setting: PrinterSetting, title: str) -> tuple[str, bytes]:
    """(content, bytes) of a test page for ``kind`` on ``setting``'s paper."""
    now = dt.datetime.now()
    if kind in ESCPOS_KINDS:
        return "escpos", receipt_bytes(
            sample_receipt(now), paper=setting.paper or "80mm", encoding=setting.encoding
        )
    if kind == "drug_label":
        return "pdf", labels_pdf([sample_label(now.date())], size=setting.paper or "70x50")
    page = A5 if (setting.paper or PAPERS[kind][0]).upper() == "A5" and kind == "prescription" else A4
    if kind == "waybill":
        from reportlab.lib.units import mm

        page = (76 * mm, 130 * mm) if setting.paper.startswith("76") else (100 * mm, 150 * mm)
    return "pdf", _pdf_test_page(kind, title, page)
