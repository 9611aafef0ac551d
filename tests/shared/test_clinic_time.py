"""The hospital's zone on a PC: the PC's own zone until a server tells one, then that one for every local
date and time; an unknown zone name changes nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from shared import clinic_time

INSTANT = dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC)  # 04:30 on 2 March in Shanghai (the tests' OS zone)


@pytest.fixture(autouse=True)
def no_zone_told() -> Iterator[None]:
    clinic_time.use_zone(None)
    yield
    clinic_time.use_zone(None)


def test_until_a_server_tells_the_pcs_own_zone_stands_in() -> None:
    assert clinic_time.local(INSTANT) == INSTANT.astimezone()
    assert clinic_time.day_of(INSTANT) == dt.date(2026, 3, 2)


def test_a_told_zone_decides_local_times_days_and_naive_input() -> None:
    clinic_time.use_zone("Etc/GMT+12")
    assert clinic_time.local(INSTANT).strftime("%Y-%m-%d %H:%M") == "2026-03-01 08:30"
    assert clinic_time.day_of(INSTANT) == dt.date(2026, 3, 1)
    assert clinic_time.now().utcoffset() == dt.timedelta(hours=-12)
    typed = clinic_time.aware(dt.datetime(2026, 3, 1, 9, 0))  # typed by a user: the hospital's 09:00
    assert typed == dt.datetime(2026, 3, 1, 21, 0, tzinfo=dt.UTC)
    assert clinic_time.day_of(INSTANT, ZoneInfo("Asia/Shanghai")) == dt.date(
        2026, 3, 2
    )  # an explicit zone wins


def test_an_unknown_zone_name_leaves_the_zone_as_it_was() -> None:
    assert clinic_time.zone_named("Mars/Olympus_Mons") is None
    clinic_time.use_zone("Mars/Olympus_Mons")
    assert clinic_time.local(INSTANT) == INSTANT.astimezone()
    clinic_time.use_zone("Pacific/Kiritimati")
    clinic_time.use_zone("Mars/Olympus_Mons")
    assert clinic_time.day_of(INSTANT) == dt.date(
        2026, 3, 2
    ) and clinic_time.now().utcoffset() == dt.timedelta(hours=14)
