"""Dated prescription rule tables: ``rules_at`` picks the version in effect at a moment, the diff names each
changed field, and a table that is not one is refused naming the field."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.entities import RxRuleSet
from shared.domain.prices import BEFORE_ANY_CHANGE
from shared.domain.rx_rule_sets import (
    history,
    rule_diff,
    rule_problems,
    rules_at,
    table_json,
    with_limits,
)
from shared.domain.rx_rules import default_rules

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _version(
    vid: str, effective_from: dt.datetime, *, ordinary_days: int, set_at: dt.datetime | None = None
) -> RxRuleSet:
    table = with_limits(default_rules(), days={"ordinary": (ordinary_days, min(3, ordinary_days))})
    return RxRuleSet(
        id=vid, effective_from=effective_from, rules=table_json(table), set_at=set_at or effective_from
    )


def test_without_any_version_the_shipped_table_applies() -> None:
    assert rules_at([], T0) == default_rules()


def test_a_version_applies_from_its_moment_on_and_not_before() -> None:
    shipped = RxRuleSet(id="a", effective_from=BEFORE_ANY_CHANGE, rules=table_json(default_rules()))
    tighter = _version("b", T0, ordinary_days=5)
    versions = [tighter, shipped]
    assert rules_at(versions, T0 - dt.timedelta(seconds=1)).type_rule("ordinary").max_days == 7
    assert rules_at(versions, T0).type_rule("ordinary").max_days == 5
    assert rules_at(versions, T0 + dt.timedelta(days=30)).type_rule("ordinary").max_days == 5


def test_before_the_first_version_the_shipped_table_applies() -> None:
    later = _version("b", T0, ordinary_days=4)
    assert rules_at([later], T0 - dt.timedelta(hours=1)).type_rule("ordinary").max_days == 7


def test_of_two_versions_for_one_moment_the_one_set_later_wins() -> None:
    first = _version("a", T0, ordinary_days=5, set_at=T0 - dt.timedelta(hours=2))
    second = _version("b", T0, ordinary_days=6, set_at=T0 - dt.timedelta(hours=1))
    assert rules_at([second, first], T0).type_rule("ordinary").max_days == 6
    assert rules_at([first, second], T0).type_rule("ordinary").max_days == 6


def test_a_voided_version_never_applies() -> None:
    gone = _version("a", T0, ordinary_days=5).model_copy(update={"voided": True})
    assert rules_at([gone], T0 + dt.timedelta(days=1)).type_rule("ordinary").max_days == 7


def test_the_diff_names_each_changed_field_with_old_and_new_value() -> None:
    after = with_limits(default_rules(), max_drugs_per_rx=4, days={"ordinary": (5, 3)})
    assert rule_diff(default_rules(), after) == ["ordinary.max_days 7 → 5", "max_drugs_per_rx 5 → 4"]
    assert rule_diff(after, after) == []


def test_the_diff_reads_controlled_days_rules_by_position() -> None:
    after = with_limits(default_rules(), controlled_days=[1, 5])
    assert rule_diff(default_rules(), after) == ["controlled_days[1].max_days 7 → 5"]


def test_history_marks_past_current_and_scheduled_versions_with_their_changes() -> None:
    shipped = RxRuleSet(id="a", effective_from=BEFORE_ANY_CHANGE, rules=table_json(default_rules()))
    now_version = _version("b", T0, ordinary_days=5)
    later = _version("c", T0 + dt.timedelta(days=7), ordinary_days=4)
    rows = history([later, shipped, now_version], T0 + dt.timedelta(hours=1))
    assert [(r.version.id, r.state) for r in rows] == [("a", "past"), ("b", "current"), ("c", "future")]
    assert rows[0].changes == () and rows[0].since_always
    assert rows[1].changes == ("ordinary.max_days 7 → 5",)
    assert rows[2].changes == ("ordinary.max_days 5 → 4",)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["types"]["ordinary"].update(max_days="seven"), "types.ordinary.max_days"),
        (lambda d: d["types"].update(weekly=d["types"]["ordinary"]), "types.weekly"),
        (lambda d: d["types"].pop("toxic"), "toxic"),
        (lambda d: d.update(max_drugs_per_rx=0), "max_drugs_per_rx"),
        (lambda d: d["types"]["ordinary"].update(default_days=9), "types.ordinary"),
    ],
)
def test_a_table_that_fails_validation_is_refused_naming_the_field(change, named: str) -> None:  # type: ignore[no-untyped-def]
    data = table_json(default_rules())
    change(data)
    problem = rule_problems(data)
    assert problem is not None and named in problem


def test_the_shipped_table_is_valid_and_stable_as_json() -> None:
    assert rule_problems(table_json(default_rules())) is None
    assert table_json(default_rules()) == table_json(default_rules())
