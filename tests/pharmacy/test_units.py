"""Stock quantities read the same on the doctor's and the pharmacist's screens: packs and smallest units."""

from __future__ import annotations

from shared.domain.units import packs_and_units


def test_whole_packs_show_the_smallest_unit_total_alongside() -> None:
    assert packs_and_units(1152, pack_qty=24, pack_unit="盒", min_unit="粒") == "48 盒（1152 粒）"


def test_loose_units_follow_the_packs() -> None:
    assert packs_and_units(1164, pack_qty=24, pack_unit="盒", min_unit="粒") == "48 盒 12 粒（1164 粒）"
    assert packs_and_units(20, pack_qty=24, pack_unit="盒", min_unit="粒") == "20 粒"


def test_a_one_unit_pack_and_negative_stock() -> None:
    assert packs_and_units(5, pack_qty=1, pack_unit="支", min_unit="支") == "5 支"
    assert packs_and_units(-24, pack_qty=24, pack_unit="盒", min_unit="粒") == "-1 盒（-24 粒）"
    assert packs_and_units(0, pack_qty=24, pack_unit="盒", min_unit="粒") == "0 粒"
