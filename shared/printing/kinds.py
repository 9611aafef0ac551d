"""The one registry of printed document kinds: every app, printer setting and print record uses these names.

A kind's ``key`` is what a PC's ``site.printers`` maps to a printer (``shared.site.DocumentKind``), what the
printers screen lists and what a print job carries. ``record`` is the ``print.record`` document it is
recorded as (``entities.PrintDocument``: kept apart because records already on servers use those names).
``content`` says what the printer receives (a PDF or ESC/POS bytes), ``papers`` the sizes it can take (the
first is the default), ``apps`` which apps print it (their printers screens list exactly those).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from shared.domain.entities import PrintDocument
from shared.i18n import DEFAULT_LANGUAGE, register, tr

Content = Literal["pdf", "escpos"]
App = Literal["workstation", "pharmacy", "triage"]


@dataclass(frozen=True)
class DocumentKind:
    key: str
    record: str
    content: Content
    papers: tuple[str, ...]
    apps: frozenset[str]
    names: tuple[str, str, str]  # zh_CN, en, zh_TW

    @property
    def default_paper(self) -> str:
        return self.papers[0]

    def name(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return tr(f"printing.kind.{self.key}", lang)


def _kind(
    key: str,
    record: str,
    content: Content,
    papers: tuple[str, ...],
    apps: set[str],
    names: tuple[str, str, str],
) -> DocumentKind:
    return DocumentKind(key, record, content, papers, frozenset(apps), names)


KINDS: dict[str, DocumentKind] = {
    kind.key: kind
    for kind in (
        _kind(
            "ticket",
            "ticket",
            "escpos",
            ("80mm", "58mm"),
            {"triage"},
            ("排队小票", "Queue ticket", "排隊小票"),
        ),
        _kind(
            "prescription",
            "prescription",
            "pdf",
            ("A5", "A4"),
            {"workstation", "pharmacy"},
            ("处方", "Prescription", "處方"),
        ),
        _kind(
            "visit_note",
            "visit_note",
            "pdf",
            ("A4",),
            {"workstation"},
            ("门诊病历", "Visit note", "門診病歷"),
        ),
        _kind("pick_list", "pick_list", "pdf", ("A4",), {"pharmacy"}, ("配药单", "Pick list", "配藥單")),
        _kind(
            "drug_label",
            "label",
            "pdf",
            ("70x50mm", "60x40mm"),
            {"pharmacy"},
            ("药袋标签", "Drug labels", "藥袋標籤"),
        ),
        _kind("receipt", "receipt", "escpos", ("80mm", "58mm"), {"pharmacy"}, ("小票", "Receipt", "小票")),
        _kind(
            "waybill",
            "waybill",
            "pdf",
            ("100x150mm", "76x130mm"),
            {"pharmacy"},
            ("快递面单", "Waybill", "快遞面單"),
        ),
        _kind("report", "stock_report", "pdf", ("A4",), {"pharmacy"}, ("报表", "Report", "報表")),
    )
}

for _kind_entry in KINDS.values():
    _zh, _en, _tw = _kind_entry.names
    register(f"printing.kind.{_kind_entry.key}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})

RECORD_DOCUMENTS: frozenset[str] = frozenset(get_args(PrintDocument))


def kind(key: str) -> DocumentKind:
    """The kind named ``key``; ``KeyError`` for a name no app prints."""
    return KINDS[key]


def kinds_for(app: str) -> list[DocumentKind]:
    """The kinds an app prints, in the registry's order (its printers screen lists these)."""
    return [k for k in KINDS.values() if app in k.apps]


def record_document(name: str) -> str:
    """The ``print.record`` document for a kind key (``drug_label`` -> ``label``), or a record document name
    given as it is (``sales_report``). ``ValueError`` for anything else."""
    if name in KINDS:
        return KINDS[name].record
    if name in RECORD_DOCUMENTS:
        return name
    raise ValueError(f"not a printed document kind: {name!r}")


def kind_label(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """A kind's name for people (``小票``); the key itself for a name not in the registry (a test page)."""
    return KINDS[key].name(lang) if key in KINDS else key
