"""Masking of names, ID numbers and phones over real name shapes."""

from __future__ import annotations

import pytest

from shared.domain.masking import mask_id_number, mask_name, mask_phone


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("李四", "李*"),  # two characters
        ("张三丰", "张*丰"),  # three
        ("王小二", "王*二"),
        ("欧阳修华", "欧**华"),  # compound surname, four characters (DESIGN.md: 欧**华)
        ("司马光", "司*光"),  # compound surname, three characters
        ("诸葛孔明", "诸**明"),
        ("买买提江", "买**江"),  # four characters, single surname
        ("阿卜杜·热合曼", "阿*****曼"),  # transliterated with a middle dot
        ("John Smith", "J*** S****"),  # Latin
        ("Li", "L*"),
        ("张", "张"),
        ("", ""),
    ],
)
def test_names_keep_only_the_first_and_last_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_masked_names_never_show_the_middle_characters() -> None:
    for name in ("欧阳娜娜", "上官婉儿", "张三丰", "慕容复"):
        masked = mask_name(name)
        assert len(masked) == len(name)
        assert all(ch == "*" for ch in masked[1:-1])


def test_id_numbers_keep_the_first_three_and_last_four() -> None:
    assert mask_id_number("11010119900307123X") == "110***********123X"
    assert mask_id_number("E12345678") == "E12**5678"
    assert mask_id_number("1234") == "****"


def test_phones_keep_the_first_three_and_last_four_digits() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138 1234 5678") == "138****5678"
    assert mask_phone("123") == "***"
