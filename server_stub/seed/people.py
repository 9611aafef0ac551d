"""Deterministic generators of realistic Chinese patients (names, valid resident ID numbers, phones)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from shared.domain.entities import Patient
from shared.domain.identity import check_char
from shared.domain.search_keys import pinyin_initials
from shared.ids import reference_id

# Common surnames roughly by frequency, with some compound surnames.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "司徒", "夏侯", "令狐")
GIVEN_CHARS_M = "伟强磊军洋勇杰涛明超辉刚平鹏飞鑫波斌宇浩凯健俊帆建国志华文博晨阳宏峰龙海亮成东林"
GIVEN_CHARS_F = "芳娜敏静丽艳娟霞秀玲桂英华慧颖佳琳雪梅婷倩晶欣怡萍红燕蓉瑶丹璐琪妍莉薇"
# Area codes of real prefecture-level divisions (GB/T 2260), so ID numbers look right to clerks.
AREA_CODES = (
    "110101",
    "110105",
    "310104",
    "310115",
    "440106",
    "440305",
    "330106",
    "320102",
    "420106",
    "510107",
    "610113",
    "370102",
    "410105",
    "430104",
    "350102",
    "500103",
    "120101",
    "210102",
)
ALLERGENS = (
    "青霉素",
    "头孢类",
    "磺胺类",
    "阿司匹林",
    "链霉素",
    "碘造影剂",
    "花粉",
    "海鲜",
    "布洛芬",
    "庆大霉素",
)


def make_resident_id(rng: random.Random, birth: dt.date, sex: str) -> str:
    order = rng.randrange(0, 50) * 2 + (1 if sex == "M" else 0)
    body = f"{rng.choice(AREA_CODES)}{birth:%Y%m%d}{rng.randrange(0, 10)}{order % 100:02d}"[:17]
    # the 17th digit (index 16) encodes sex: odd for men, even for women
    seventeenth = int(body[16])
    if (seventeenth % 2 == 1) != (sex == "M"):
        body = body[:16] + str((seventeenth + 1) % 10)
    return body + check_char(body)


def make_name(rng: random.Random, sex: str) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    pool = GIVEN_CHARS_M if sex == "M" else GIVEN_CHARS_F
    given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.7 else "")
    return surname + given


def generate_patients(
    count: int, *, seed: int, today: dt.date, year: int, start_number: int = 1, id_prefix: str = "patient"
) -> Iterator[Patient]:
    """``count`` patients of all ages with valid ID numbers and mobile phones; same seed, same people."""
    rng = random.Random(seed)
    for n in range(start_number, start_number + count):
        sex = rng.choice("MF")
        age_days = int(rng.triangular(30, 95 * 365, 40 * 365))
        birth = today - dt.timedelta(days=age_days)
        name = make_name(rng, sex)
        child = age_days < 16 * 365
        id_number = None if child and rng.random() < 0.3 else make_resident_id(rng, birth, sex)
        phone = f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}"
        allergies = rng.sample(ALLERGENS, k=rng.choice((1, 1, 2))) if rng.random() < 0.12 else []
        yield Patient(
            id=reference_id(id_prefix, str(n)),
            mrn=f"{year}{n:07d}",
            name=name,
            name_pinyin=pinyin_initials(name),
            sex=sex,  # type: ignore[arg-type]
            birth_date=birth,
            id_type="resident_id" if id_number else "none",
            id_number=id_number,
            id_number_tail=id_number[-4:] if id_number else "",
            phone=phone,
            allergies=sorted(allergies),
        )
