"""Ticket numbering: desks in different slots can never issue the same number, online or offline."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.queue_numbers import NumberingPlan, counter_name, number_key, ticket_label

plans = st.builds(NumberingPlan, block=st.integers(1, 200), slots=st.integers(1, 10))


@settings(max_examples=200, deadline=None)
@given(plans, st.lists(st.integers(0, 9), min_size=1, max_size=300))
def test_desks_issuing_offline_never_collide(plan: NumberingPlan, turns: list[int]) -> None:
    # each desk only sees its own tickets (it is offline); the numbers still never collide
    issued: dict[int, list[int]] = {}
    for desk in turns:
        slot = desk % plan.slots
        mine = issued.setdefault(slot, [])
        mine.append(plan.next_number(slot, mine))
    everything = [n for numbers in issued.values() for n in numbers]
    assert len(everything) == len(set(everything))
    for slot, numbers in issued.items():
        assert all(plan.owns(slot, n) for n in numbers)
        assert numbers == sorted(numbers)


@settings(max_examples=200, deadline=None)
@given(plans, st.integers(0, 9), st.integers(1, 1000))
def test_the_nth_number_of_a_slot_is_the_one_next_number_would_give(
    plan: NumberingPlan, slot: int, n: int
) -> None:
    slot %= plan.slots
    expected = plan.nth_number(slot, n)
    previous = [plan.nth_number(slot, n - 1)] if n > 1 else []
    assert plan.owns(slot, expected)
    assert plan.next_number(slot, previous) == expected


def test_the_default_plan_gives_the_server_and_each_desk_their_own_hundreds() -> None:
    plan = NumberingPlan()
    assert [plan.nth_number(0, k) for k in (1, 100, 101)] == [1, 100, 401]
    assert [plan.nth_number(1, k) for k in (1, 100, 101)] == [101, 200, 501]
    assert plan.next_number(2, [201, 202, 205]) == 206
    assert (
        plan.next_number(
            2,
            [201, 203],
        )
        == 204
    )
    assert plan.next_number(1, [150, 151]) == 152


def test_numbers_are_shown_with_three_digits_and_keyed_per_queue_and_day() -> None:
    assert ticket_label("A", 23) == "A023"
    assert ticket_label("B", 1024) == "B1024"
    day = dt.date(2026, 11, 22)
    assert number_key("q", day, 23) == "q:2026-11-22:23"
    assert len(counter_name("x" * 64, day)) <= 32
    assert counter_name("q", day) != counter_name("q", day + dt.timedelta(days=1))


def test_only_the_plans_desk_slots_are_desk_slots() -> None:
    from shared.domain.queue_numbers import desk_slot_problem

    assert desk_slot_problem(0) == "unset"  # the server's slot (kiosks, phones)
    assert [desk_slot_problem(s) for s in (1, 2, 3)] == [None, None, None]
    assert desk_slot_problem(4) == "beyond" and desk_slot_problem(5) == "beyond"  # 5 would issue 1's numbers
    assert desk_slot_problem(5, NumberingPlan(block=100, slots=8)) is None


def test_a_slot_another_pc_issued_from_today_is_found() -> None:
    from shared.domain.queue_numbers import slot_taken_by

    plan = NumberingPlan()
    # desk-a and desk-c both number from slot 1: their numbers interleave
    issued = [(1, "server"), (101, "desk-a"), (102, "desk-c"), (201, "desk-b")]
    assert slot_taken_by(plan, 1, issued, "desk-a") == "desk-c"
    assert slot_taken_by(plan, 2, issued, "desk-b") is None
    # a new PC that takes over slot 1 continues after the old one: no clash
    assert slot_taken_by(plan, 1, [(101, "old"), (102, "old"), (103, "new")], "new") is None
    assert slot_taken_by(plan, 1, [(101, "old")], "new") is None
