"""An in-memory StateReader for testing the pure mutation handlers without any database."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from shared.domain.entities import Entity
from shared.domain.mutations import MutationContext

E = TypeVar("E", bound=Entity)


class MemoryState:
    def __init__(self, *entities: Entity, numbers: bool = True) -> None:
        self.rows: dict[tuple[str, str], Entity] = {}
        self.counter = 0
        self.numbers = numbers
        for entity in entities:
            self.put(entity)

    def put(self, entity: Entity) -> None:
        self.rows[(entity.KIND, entity.id)] = entity

    def get(self, kind: type[E], entity_id: str) -> E | None:
        return self.rows.get((kind.KIND, entity_id))  # type: ignore[return-value]

    def find(self, kind: type[E], **equals: Any) -> list[E]:
        return [
            e
            for (k, _), e in self.rows.items()
            if k == kind.KIND and all(getattr(e, f) == v for f, v in equals.items())
        ]  # type: ignore[misc]

    def next_number(self, counter: str) -> int | None:
        if not self.numbers:
            return None
        self.counter += 1
        return self.counter


def context(**overrides: Any) -> MutationContext:
    now = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.UTC)
    values: dict[str, Any] = {
        "staff_id": "nurse-1",
        "roles": frozenset({"nurse"}),
        "device_id": "pc-1",
        "campus_id": "campus-1",
        "now": now,
        "today": dt.date(2026, 11, 22),
    }
    values.update(overrides)
    return MutationContext(**values)
