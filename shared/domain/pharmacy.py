"""Pharmacy rules shared by the desk and the server: reason lists, the review's signed content, prescription
lines in minimum units, and ``StockWriter``, which appends ledger movements and keeps batch balances.

The ledger convention is ``shared.domain.stock``'s: signed whole quantities in the drug's minimum unit.
A prescription line is ordered in packs (``RxLine.quantity``); here it becomes ``packs × pack_qty``
minimum units, and its price (per pack) becomes an amount for what was actually handed out.
Read-side queries over these entities (on hand, alerts, sales lists) live in ``pharmacy_queries``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from shared.domain.entities import Prescription, StockBatch
from shared.domain.stock import BatchStock, deterministic_id
from shared.i18n import register
from shared.money import round_money

CENT = Decimal("0.01")
COST_STEP = Decimal("0.0001")
ReviewDecision = Literal["approve", "reject"]
# Statuses from which a prescription may be dispensed without a conflict being flagged.
DISPENSABLE_STATUSES = frozenset({"approved", "partly_dispensed"})

# Reason lists: code -> (zh_CN, en, zh_TW). The codes travel in mutations; the texts are for screens.
REVIEW_REASONS: dict[str, tuple[str, str, str]] = {
    "dose": ("用法用量不适宜", "Inappropriate dose or usage", "用法用量不適宜"),
    "interaction": (
        "存在配伍禁忌或不良相互作用",
        "Incompatibility or interaction",
        "存在配伍禁忌或不良相互作用",
    ),
    "duplicate": ("重复给药", "Duplicate therapy", "重複給藥"),
    "allergy": ("患者对该药过敏", "Patient is allergic", "患者對該藥過敏"),
    "indication": ("适应证不适宜", "Inappropriate indication", "適應證不適宜"),
    "days": ("用药天数超出规定", "Days of supply over the limit", "用藥天數超出規定"),
    "controlled": ("特殊管理药品不符合规定", "Controlled-drug rules not met", "特殊管理藥品不符合規定"),
    "incomplete": (
        "处方书写不规范或信息不全",
        "Prescription incomplete or irregular",
        "處方書寫不規範或資訊不全",
    ),
    "other": ("其他", "Other", "其他"),
}
REFUND_REASONS: dict[str, tuple[str, str, str]] = {
    "adverse_reaction": ("药品不良反应", "Adverse reaction", "藥品不良反應"),
    "doctor_change": ("医生调整用药", "Doctor changed the therapy", "醫生調整用藥"),
    "wrong_drug": ("发药差错", "Dispensing error", "發藥差錯"),
    "quality": ("药品质量问题", "Quality problem", "藥品品質問題"),
    "patient_request": ("患者要求退药", "Patient's request", "患者要求退藥"),
    "other": ("其他", "Other", "其他"),
}
MOVE_KINDS: dict[str, tuple[str, str, str]] = {
    "out": ("出库", "Move out", "出庫"),
    "transfer": ("调拨", "Transfer", "調撥"),
    "scrap": ("报损", "Scrap", "報損"),
}
for _group, _table in (
    ("review_reason", REVIEW_REASONS),
    ("refund_reason", REFUND_REASONS),
    ("move_kind", MOVE_KINDS),
):
    for _code, (_zh, _en, _tw) in _table.items():
        register(f"pharmacy.{_group}.{_code}", {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def reason_text(group: Literal["review_reason", "refund_reason", "move_kind"], code: str, lang: str) -> str:
    table = {"review_reason": REVIEW_REASONS, "refund_reason": REFUND_REASONS, "move_kind": MOVE_KINDS}[group]
    texts = table.get(code)
    if texts is None:
        return code
    return {"zh_CN": texts[0], "en": texts[1], "zh_TW": texts[2]}.get(lang, texts[0])


# --- keys and ids ---------------------------------------------------------------------------------------


def drug_key(pharmacy_id: str, drug_id: str) -> str:
    return f"{pharmacy_id}|{drug_id}"


def batch_key(pharmacy_id: str, drug_id: str, batch_no: str) -> str:
    return f"{pharmacy_id}|{drug_id}|{batch_no}"


def batch_id(pharmacy_id: str, drug_id: str, batch_no: str) -> str:
    """The id of a ``StockBatch`` row: the same on every PC and on the server."""
    return deterministic_id("stock_batch", pharmacy_id, drug_id, batch_no)


def minimum_id(pharmacy_id: str, drug_id: str) -> str:
    return deterministic_id("stock_minimum", pharmacy_id, drug_id)


def pickup_state_id(rx_id: str) -> str:
    return deterministic_id("pickup_code", rx_id)


def rx_line_id(rx_id: str, line_no: int) -> str:
    """A prescription line's id in the ledger: the prescription and the line's index in ``lines``."""
    return f"{rx_id}:{line_no}"


def money(value: Decimal) -> Decimal:
    """An amount rounded to the fen (``shared.money.round_money``, the one rule)."""
    return round_money(value)


def unit_cost_of(price_per_pack: Decimal, pack_qty: int) -> Decimal:
    """A purchase price per pack as the ledger's cost per minimum unit."""
    return (price_per_pack / pack_qty).quantize(COST_STEP, rounding=ROUND_HALF_UP)


# --- prescription lines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RxLineFacts:
    """One line of a ``Prescription`` as the pharmacy sees it; quantities in minimum units."""

    line_no: int
    rx_line_id: str
    drug_id: str
    drug_code: str
    drug_name: str
    spec: str
    pack_unit: str
    min_unit: str
    pack_qty: int
    packs: int
    price: Decimal  # per pack

    @property
    def prescribed(self) -> int:
        return self.packs * self.pack_qty

    def amount_for(self, min_units: int) -> Decimal:
        """What ``min_units`` of this line cost the patient (pack price pro rata, to the cent)."""
        return money(self.price * min_units / self.pack_qty)


def rx_line_facts(rx: Prescription) -> list[RxLineFacts]:
    """The prescription's lines (``prescribing.RxLine`` JSON dumps) in ledger terms."""
    out: list[RxLineFacts] = []
    for n, line in enumerate(rx.lines):
        drug: Mapping[str, Any] = line.get("drug", {})
        pack_qty = int(drug.get("pack_qty", 1) or 1)
        out.append(
            RxLineFacts(
                line_no=n,
                rx_line_id=rx_line_id(rx.id, n),
                drug_id=str(drug.get("id", "")),
                drug_code=str(drug.get("code", "")),
                drug_name=str(drug.get("generic_name", "")),
                spec=str(drug.get("spec", "")),
                pack_unit=str(drug.get("pack_unit", "")),
                min_unit=str(drug.get("min_unit", "")),
                pack_qty=pack_qty,
                packs=int(line.get("quantity", 0)),
                price=Decimal(str(drug.get("price", "0"))),
            )
        )
    return out


def review_signed_content(
    rx: Prescription,
    *,
    decision: ReviewDecision,
    reason_code: str,
    reason: str,
    reviewer_id: str,
    reviewed_at: dt.datetime,
) -> dict[str, Any]:
    """What the pharmacist's review signature covers (``signing.canonical_bytes`` serialises it).

    Exactly: ``doc`` ("rx_review"), ``v`` (1), the prescription's ``rx_id``, ``number``, the doctor's
    ``rx_signature`` and ``sign_count`` (so the review is bound to the very version the doctor signed),
    ``decision``, ``reason_code``, ``reason``, ``reviewer_id`` and ``reviewed_at``.
    """
    return {
        "doc": "rx_review",
        "v": 1,
        "rx_id": rx.id,
        "number": rx.number,
        "rx_signature": rx.signature,
        "sign_count": rx.sign_count,
        "decision": decision,
        "reason_code": reason_code,
        "reason": reason,
        "reviewer_id": reviewer_id,
        "reviewed_at": reviewed_at,
    }


# --- the stock writer ------------------------------------------------------------------------------------


def as_batch_stock(row: StockBatch) -> BatchStock:
    return BatchStock(row.pharmacy_id, row.drug_id, row.batch_no, row.expiry, row.quantity)
