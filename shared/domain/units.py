"""Quantities in packs and smallest units, written one way everywhere: "48 盒（1152 粒）".

The stock ledger counts the smallest unit (粒/片/支); doctors prescribe and pharmacists hand out packs
(盒/瓶). A quantity shown to either says both: whole packs first, any loose units after them, and the
smallest-unit total in brackets (left out when a pack is one unit, or nothing is loose and the pack
count already says it all for a one-unit pack).
"""

from __future__ import annotations


def packs_and_units(quantity: int, *, pack_qty: int, pack_unit: str, min_unit: str) -> str:
    """``1152`` of a 24-粒 box → "48 盒（1152 粒）"; ``1164`` → "48 盒 12 粒（1164 粒）"; ``20`` → "20 粒";
    a pack of one unit → "5 支"; negative stock keeps its sign ("-1 盒（-24 粒）")."""
    if pack_qty <= 1 or pack_unit == min_unit:
        return f"{quantity} {min_unit or pack_unit}"
    sign = "-" if quantity < 0 else ""
    packs, loose = divmod(abs(quantity), pack_qty)
    if packs == 0:
        return f"{quantity} {min_unit}"
    shown = f"{sign}{packs} {pack_unit}" + (f" {loose} {min_unit}" if loose else "")
    return f"{shown}（{quantity} {min_unit}）"
