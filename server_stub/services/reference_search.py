"""The one definition of a reference search's matching rule and order, pure (no database): the central
API's in-memory cache (``reference_cache``) and the clinic hub's replica answer with it, and the SQL
search (``reference_cache.sql_search``) states the same rule in SQL.

A row matches ``q`` (``normalize_query``: trimmed, lower-cased) when one of the kind's prefix columns
(codes, pinyin initials) starts with it or one of its substring columns (names) contains it,
case-insensitively; rows come ordered by (code, id) (by id for a kind without a code)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.domain.entities import ENTITY_BY_KIND

# The kinds ``GET /api/v1/reference/{kind}`` answers.
ReferenceKind = Literal[
    "campus",
    "department",
    "room",
    "pharmacy",
    "staff",
    "drug",
    "frequency",
    "route",
    "diagnosis",
    "exam_item",
]

# Prefix-searched columns (codes, pinyin initials) and substring-searched columns (names) per kind.
SEARCH_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "drug": (("code", "pinyin"), ("generic_name", "trade_name", "english_name")),
    "diagnosis": (("code", "pinyin"), ("name_zh", "name_en")),
    "exam_item": (("code", "pinyin"), ("name_zh", "name_en")),
    "staff": (("username",), ("name",)),
}
DEFAULT_SEARCH_COLUMNS = (("code",), ("name",))


def search_columns(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The kind's searched columns that its entity (and so its table) really has."""
    prefix, contains = SEARCH_COLUMNS.get(kind, DEFAULT_SEARCH_COLUMNS)
    fields = ENTITY_BY_KIND[kind].model_fields
    return tuple(c for c in prefix if c in fields), tuple(c for c in contains if c in fields)


def order_column(kind: str) -> str:
    """The first sort column: ``code``, or ``id`` for a kind without one (then ``id``)."""
    return "code" if "code" in ENTITY_BY_KIND[kind].model_fields else "id"


@dataclass(frozen=True)
class SearchKeys:
    """A row's searched values, lower-cased (None values left out)."""

    prefix: tuple[str, ...]
    contains: tuple[str, ...]

    def matches(self, text: str) -> bool:
        """Whether the row matches ``text`` (already ``normalize_query``'d; empty matches every row)."""
        if not text:
            return True
        return any(k.startswith(text) for k in self.prefix) or any(text in k for k in self.contains)


def search_keys(kind: str, values: Mapping[Any, Any]) -> SearchKeys:
    """The searched values of one row of ``kind`` (a table row's mapping or an entity's JSON dict)."""
    prefix, contains = search_columns(kind)
    return SearchKeys(
        prefix=tuple(str(values[c]).lower() for c in prefix if values.get(c) is not None),
        contains=tuple(str(values[c]).lower() for c in contains if values.get(c) is not None),
    )


def search_rows(
    kind: str, rows: Iterable[Mapping[str, Any]], text: str, limit: int
) -> list[Mapping[str, Any]]:
    """The non-voided ``rows`` (entities' JSON dicts, any order) that match ``text`` (normalised), in
    the search's order, at most ``limit``: what the central API answers for the same rows."""
    column = order_column(kind)
    live = sorted(
        (r for r in rows if not r.get("voided")), key=lambda r: (str(r.get(column) or ""), str(r["id"]))
    )
    found: list[Mapping[str, Any]] = []
    for row in live:
        if search_keys(kind, row).matches(text):
            found.append(row)
            if len(found) == limit:
                break
    return found
