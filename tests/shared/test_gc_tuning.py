"""Garbage collection after start-up (``shared.gc_tuning``): start-up objects leave the collections and
young objects are collected less often; checked on the real collector, then put back."""

from __future__ import annotations

import gc

from shared.gc_tuning import YOUNG_THRESHOLD, settle_after_start


def test_settle_after_start_freezes_what_exists_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    survivor = [object() for _ in range(1000)]  # alive at "start-up"
    try:
        settle_after_start()
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() >= len(survivor)
        settle_after_start(5000)
        assert gc.get_threshold()[0] == 5000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
