"""``LocalView``: the ``StateReader`` the shared mutation handlers get on a client.

It reads server-confirmed rows with the pending overlay on top: while a mutation waits for the server,
the rows it wrote (its newest write per entity) replace the confirmed ones. The overlay is what the
shared handler wrote when the mutation was recorded, and is computed again when a pulled page changes a
row that mutation read (``store._replay``). A view wraps one SQLite
connection; use it inside one transaction (``LocalStore.reading()`` or the writer) for a consistent
snapshot, and only on the thread that owns that connection.

Reads come in two weights: ``get``/``find``/``all`` return validated pydantic entities (what handlers
and most screens want); ``rows`` returns plain dicts of a few named fields straight from SQLite, with
no validation, for screens that list tens of thousands of rows (the pharmacy's stock tab).
``find`` returns every match; pass ``limit`` to cap it on purpose (it never cuts silently).

Two options serve the store's replay of pending mutations: ``below`` shows the overlay only under one
position (``client_seq``), i.e. the state a mutation at that position saw; ``reads`` collects what was
read as tokens (``point_token``, ``shape_token``, ``kind_token``) with a fingerprint of what the read
returned, and ``row_tokens`` gives the tokens a changed row version can affect, so the store re-runs
only the mutations whose reads a change touched, and of those only the ones a read of which now returns
something else (``fingerprint``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic_core import to_jsonable_python

from shared.domain.entities import ENTITY_BY_KIND, Entity
from shared.store.schema import KEY_FIELDS, KEY_SLOTS, slot_value

E = TypeVar("E", bound=Entity)

_LATEST_OVERLAY = (
    "o.client_seq = (SELECT max(o2.client_seq) FROM overlay o2 WHERE o2.kind = o.kind AND o2.id = o.id)"
)
_LATEST_BELOW = (
    "o.client_seq < ? AND o.client_seq = (SELECT max(o2.client_seq) FROM overlay o2 "
    "WHERE o2.kind = o.kind AND o2.id = o.id AND o2.client_seq < ?)"
)


# Tokens are plain strings (cheap to build: a page makes thousands). Two different reads never share
# one; values are written with ``repr`` (1 and "1" differ), so the worst a clash could do is run a
# mutation again that did not need it.
_SEP = "\x1e"


def point_token(kind: str, entity_id: str) -> str:
    """Read token: the row ``(kind, id)``."""
    return f"{kind}\x1f{entity_id}"


def kind_token(kind: str) -> str:
    """Read token: every row of ``kind`` (a read without an equality)."""
    return f"{kind}\x1f*\x1f"


def shape_token(kind: str, fields: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """Read token: the rows of ``kind`` whose ``fields`` (sorted) hold ``values`` (slot form)."""
    return f"{kind}\x1f{','.join(fields)}\x1e{_SEP.join(map(repr, values))}"


ALWAYS = ""  # the fingerprint of a read that is not checked again: its mutation always runs again


def _fingerprint(rows: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for entity_id, data in rows:
        digest.update(entity_id.encode())
        digest.update(b"\x00")
        digest.update(data.encode())
        digest.update(b"\x01")
    return digest.hexdigest()


def _fingerprint_one(data: str | None) -> str:
    return "-" if data is None else _fingerprint((("", data),))


def row_tokens(
    kind: str, entity_id: str, data: dict[str, Any] | None, shapes: Iterable[tuple[str, ...]]
) -> set[str]:
    """The read tokens one version of a row matches (``data`` None: the row's absence, which only its
    id and its kind's full reads can see)."""
    tokens = {point_token(kind, entity_id), kind_token(kind)}
    if data is not None:
        for fields in shapes:
            tokens.add(shape_token(kind, fields, tuple(slot_value(data.get(f)) for f in fields)))
    return tokens


def _sql_value(value: Any) -> Any:
    """A Python value as it is stored in a key slot (the pydantic JSON form of the field)."""
    return slot_value(to_jsonable_python(value))


def _where(kind: type[Entity], equals: dict[str, Any]) -> tuple[str, list[Any]]:
    """The WHERE clause of an equality search (``{t}`` stands for the table alias) and its parameters
    after the kind's name."""
    name = kind.KIND
    allowed = {"id", *kind.INDEXES, *kind.UNIQUE}
    unknown = set(equals) - allowed
    if unknown:
        raise ValueError(f"{name} cannot be searched by {sorted(unknown)}")
    slots = {field: f"k{n + 1}" for n, field in enumerate(KEY_FIELDS.get(name, ())[:KEY_SLOTS])}
    where, params = ["{t}.kind = ?"], []
    for field, value in equals.items():
        # Field names come from the entity model (checked above); values are bound parameters.
        if field == "id":
            column = "{t}.id"
        elif field in slots:
            column = "{t}." + slots[field]
        else:  # beyond the key slots: correct, but a scan of the kind
            column = "json_extract({t}.data, '$." + field + "')"
        where.append(f"{column} IS NULL" if value is None else f"{column} = ?")
        if value is not None:
            params.append(_sql_value(value))
    return " AND ".join(where), params


def _check_kind(kind: type[Entity]) -> str:
    if ENTITY_BY_KIND.get(kind.KIND) is not kind:
        raise ValueError(f"unknown entity kind {kind!r}")
    return kind.KIND


class LocalView:
    """Confirmed state plus the pending overlay, read through one connection.

    ``below``: only overlay rows with ``client_seq < below`` count (the state a pending mutation at
    that position saw). ``reads``: a set that collects the read tokens of every read; ``shapes`` the
    ``(kind, fields)`` of its equality reads."""

    def __init__(
        self, conn: sqlite3.Connection, *, below: int | None = None, reads: dict[str, str] | None = None
    ) -> None:
        self.conn = conn
        self.below = below
        self.reads = reads
        self.shapes: set[tuple[str, tuple[str, ...]]] = set()

    def _latest(self) -> tuple[str, tuple[int, ...]]:
        """The condition that ``o`` is the newest overlay row of its entity in this view, and its parameters."""
        if self.below is None:
            return _LATEST_OVERLAY, ()
        return _LATEST_BELOW, (self.below, self.below)

    def _hidden(self) -> tuple[str, tuple[int, ...]]:
        """The condition that the confirmed row ``e`` is not replaced by an overlay row in this view."""
        if self.below is None:
            return "NOT EXISTS (SELECT 1 FROM overlay x WHERE x.kind = e.kind AND x.id = e.id)", ()
        return (
            "NOT EXISTS (SELECT 1 FROM overlay x WHERE x.kind = e.kind AND x.id = e.id AND x.client_seq < ?)",
            (self.below,),
        )

    def _note(self, token: str, seen: str) -> None:
        assert self.reads is not None
        if self.reads.setdefault(token, seen) != seen:
            self.reads[token] = ALWAYS  # one token, two different reads: never skipped

    def _read(self, kind: str, equals: dict[str, Any], seen: str = ALWAYS) -> None:
        if self.reads is None:
            return
        if equals:
            fields = tuple(sorted(equals))
            self.shapes.add((kind, fields))
            self._note(shape_token(kind, fields, tuple(_sql_value(equals[f]) for f in fields)), seen)
        else:
            self._note(kind_token(kind), seen)

    def _find_rows(self, kind: type[Entity], equals: dict[str, Any]) -> list[tuple[str, str]]:
        name = kind.KIND
        where, params = _where(kind, equals)
        hidden, hidden_params = self._hidden()
        latest, latest_params = self._latest()
        sql = (
            f"SELECT e.id, e.data FROM entity e WHERE {where.format(t='e')} AND {hidden} "
            f"UNION ALL SELECT o.id, o.data FROM overlay o WHERE {where.format(t='o')} AND {latest}"
        )
        rows = self.conn.execute(
            sql, (name, *params, *hidden_params, name, *params, *latest_params)
        ).fetchall()
        rows.sort(key=lambda r: r[0])
        return rows

    def fingerprint(self, token: str) -> str:
        """What the read ``token`` stands for returns in this view now, as recorded in ``reads``."""
        kind, rest = token.split("\x1f", 1)
        entity = ENTITY_BY_KIND.get(kind)
        if rest == "*\x1f" or (_SEP in rest and entity is None):
            return ALWAYS if entity is None else _fingerprint(self._find_rows(entity, {}))
        if _SEP not in rest:
            return _fingerprint_one(self._get_data(kind, rest))
        fields, *values = rest.split(_SEP)
        equals = dict(zip(fields.split(","), map(ast.literal_eval, values), strict=True))
        return _fingerprint(self._find_rows(entity, equals))  # type: ignore[arg-type]

    # -- StateReader -------------------------------------------------------------------------------
    def get(self, kind: type[E], entity_id: str) -> E | None:
        data = self.get_data(_check_kind(kind), entity_id)
        return None if data is None else kind.model_validate_json(data)

    def find(self, kind: type[E], *, limit: int | None = None, **equals: Any) -> list[E]:
        """Rows whose ``equals`` fields (``id``, ``INDEXES``, ``UNIQUE``) match, ordered by id: all of them,
        or the first ``limit`` when the caller asks for a cap."""
        name = _check_kind(kind)
        rows = self._find_rows(kind, equals)
        if self.reads is not None:
            self._read(name, equals, _fingerprint(rows))
        if limit is not None:
            rows = rows[: max(0, limit)]
        return [kind.model_validate_json(data) for _, data in rows]

    def rows(self, kind: type[Entity], fields: Iterable[str], **equals: Any) -> list[dict[str, Any]]:
        """A cheap projection for big lists: ``{"id": …, field: value …}`` per matching row, overlay
        applied, in no particular order, without building entities.

        Values are the stored JSON values, decoded but not validated: text for dates, datetimes and
        decimals (``"2027-06-30"``, ``"0.4250"``), numbers, strings, ``True``/``False`` and ``None`` as
        they are, nested objects as dicts and lists. ``equals`` filters as ``find`` does. Use it where
        a screen lists thousands of rows and needs a few columns (60,000 stock batches as entities take
        about a second; this reads them in about a tenth of that); use ``find`` everywhere else.
        """
        keys = ("id", *dict.fromkeys(f for f in fields if f != "id"))
        return [dict(zip(keys, r, strict=True)) for r in self.values(kind, keys[1:], **equals)]

    def values(self, kind: type[Entity], fields: Iterable[str], **equals: Any) -> list[list[Any]]:
        """``rows`` as lists ``[id, *fields]``: the cheapest read there is.

        SQLite extracts the fields of each row as one JSON array (one parse of the row's JSON) and
        joins them; Python decodes the whole result with one ``json.loads``."""
        name = _check_kind(kind)
        wanted = [f for f in fields if f != "id"]
        unknown = set(wanted) - set(kind.model_fields)
        if unknown:
            raise ValueError(f"{name} has no fields {sorted(unknown)}")
        where, params = _where(kind, equals)
        # Field names come from the entity model (checked above), never from user input.
        if not wanted:
            return [[r.id] for r in self.find(kind, **equals)]
        self._read(name, equals)
        paths = ", ".join(f"'$.{f}'" for f in ("id", *wanted))
        if self.below is None:
            replaced_rows = self.conn.execute("SELECT DISTINCT id FROM overlay WHERE kind = ?", (name,))
        else:
            replaced_rows = self.conn.execute(
                "SELECT DISTINCT id FROM overlay WHERE kind = ? AND client_seq < ?", (name, self.below)
            )
        replaced = {r[0] for r in replaced_rows}
        (joined,) = self.conn.execute(
            f"SELECT group_concat(json_extract(e.data, {paths}), ',') FROM entity e WHERE {where.format(t='e')}",
            (name, *params),
        ).fetchone()
        confirmed: list[list[Any]] = json.loads(f"[{joined}]") if joined else []
        if replaced:
            confirmed = [r for r in confirmed if r[0] not in replaced]
        latest, latest_params = self._latest()
        pending = [
            json.loads(r[0])
            for r in self.conn.execute(
                f"SELECT json_extract(o.data, {paths}) FROM overlay o WHERE {where.format(t='o')} AND {latest}",
                (name, *params, *latest_params),
            )
        ]
        return confirmed + pending

    def next_number(self, counter: str) -> int | None:
        return None  # server-side counters (medical record numbers) are assigned by the server

    # -- helpers for the store and the apps -------------------------------------------------------
    def get_data(self, kind: str, entity_id: str) -> str | None:
        data = self._get_data(kind, entity_id)
        if self.reads is not None:
            self._note(point_token(kind, entity_id), _fingerprint_one(data))
        return data

    def _get_data(self, kind: str, entity_id: str) -> str | None:
        if self.below is None:
            row = self.conn.execute(
                "SELECT data FROM overlay WHERE kind = ? AND id = ? ORDER BY client_seq DESC LIMIT 1",
                (kind, entity_id),
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT data FROM overlay WHERE kind = ? AND id = ? AND client_seq < ? "
                "ORDER BY client_seq DESC LIMIT 1",
                (kind, entity_id, self.below),
            ).fetchone()
        if row is None:
            row = self.conn.execute(
                "SELECT data FROM entity WHERE kind = ? AND id = ?", (kind, entity_id)
            ).fetchone()
        return None if row is None else str(row[0])

    def get_many(self, kind: type[E], ids: Iterable[str]) -> dict[str, E]:
        """Rows by id (overlay first); missing ids are left out."""
        name = _check_kind(kind)
        wanted = list(dict.fromkeys(ids))
        latest, latest_params = self._latest()
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for entity_id, data in self.conn.execute(
                f"SELECT id, data FROM entity WHERE kind = ? AND id IN ({marks})", (name, *chunk)
            ):
                found[entity_id] = data
            for entity_id, data in self.conn.execute(
                f"SELECT o.id, o.data FROM overlay o WHERE o.kind = ? AND o.id IN ({marks}) AND {latest}",
                (name, *chunk, *latest_params),
            ):
                found[entity_id] = data
        if self.reads is not None:
            for i in wanted:
                self._note(point_token(name, i), _fingerprint_one(found.get(i)))
        return {i: kind.model_validate_json(found[i]) for i in wanted if i in found}

    def all(self, kind: type[E], *, include_voided: bool = False) -> list[E]:
        """Every row of a kind (overlay applied), ordered by id."""
        name = _check_kind(kind)
        self._read(name, {})
        hidden, hidden_params = self._hidden()
        latest, latest_params = self._latest()
        rows = self.conn.execute(
            f"SELECT e.id, e.data FROM entity e WHERE e.kind = ? AND {hidden} "
            f"UNION ALL SELECT o.id, o.data FROM overlay o WHERE o.kind = ? AND {latest} ORDER BY 1",
            (name, *hidden_params, name, *latest_params),
        ).fetchall()
        entities = [kind.model_validate_json(data) for _, data in rows]
        return entities if include_voided else [e for e in entities if not e.voided]

    def overlay_rows(self, kind: str) -> list[tuple[str, str]]:
        """(id, data) of the newest pending write of each entity of ``kind``."""
        self._read(kind, {})
        latest, latest_params = self._latest()
        return self.conn.execute(
            f"SELECT o.id, o.data FROM overlay o WHERE o.kind = ? AND {latest}", (kind, *latest_params)
        ).fetchall()
