"""Pinyin initials and query normalisation used by every search box."""

from __future__ import annotations

from shared.domain.search_keys import normalize_query, pinyin_initials


def test_pinyin_initials_of_drug_and_diagnosis_names() -> None:
    assert pinyin_initials("阿莫西林胶囊") == "amxljn"
    assert pinyin_initials("急性上呼吸道感染") == "jxshxdgr"
    assert pinyin_initials("维生素B6片") == "wssb6p"


def test_pinyin_initials_keep_latin_letters_and_drop_punctuation() -> None:
    assert pinyin_initials("0.9%氯化钠注射液") == "09lhnzsy"
    assert pinyin_initials("") == ""


def test_full_width_queries_become_half_width_lower_case() -> None:
    assert normalize_query("  ＡＭＸＬ ") == "amxl"
