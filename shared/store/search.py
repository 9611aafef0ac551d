"""Search keys for the local quick searches (patients, drugs, diagnoses) and the queries over them.

Each searchable kind has prefix keys (name, pinyin initials, codes, MRN, ID-number tail …) kept in
``search_key`` with an index on ``(kind, key)``, and one lower-case text line in ``search_text`` for
substring matches (a Chinese fragment typed from the middle of a name). A query first takes prefix
matches through the index, then fills up with substring matches. The same functions rank pending
(overlay) rows in Python so a patient registered a minute ago offline is found like any other.
"""

from __future__ import annotations

import bisect
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from shared.domain.search_keys import normalize_query, pinyin_initials

KeyFn = Callable[[dict[str, Any]], Iterable[tuple[str, int]]]
TextFn = Callable[[dict[str, Any]], str]


# Full-width ASCII to half-width and the ideographic space to a space: the same folding as
# ``normalize_query``, done by ``str.translate`` because keys are computed for every pulled row.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_BRACKETED = re.compile(r"[（(][^）)]*[）)]")


def _low(value: Any) -> str:
    return str(value).translate(_FOLD).strip().lower() if value else ""


def _initials(text: str) -> str:
    """Pinyin initials without bracketed parts (a maker's name): ``阿莫仙（华北制药）`` → ``amx``. The
    bracket-free names repeat across makers, so the cache in ``pinyin_initials`` serves most rows."""
    return pinyin_initials(_BRACKETED.sub("", text)) if text else ""


def _patient_keys(d: dict[str, Any]) -> Iterable[tuple[str, int]]:
    yield _low(d.get("mrn")), 0
    yield _low(d.get("name")), 1
    yield _low(d.get("name_pinyin")), 2
    yield _low(d.get("id_number_tail")), 3
    yield _low(d.get("phone")), 4


def _patient_text(d: dict[str, Any]) -> str:
    # A whole ID number is rarely typed; finding it by substring keeps the prefix table small.
    return "\x1f".join(_low(p) for p in (d.get("name"), d.get("id_number")) if p)


def _drug_keys(d: dict[str, Any]) -> Iterable[tuple[str, int]]:
    yield _low(d.get("code")), 0
    yield _low(d.get("pinyin")), 1
    yield _low(d.get("generic_name")), 1
    trade = d.get("trade_name") or ""
    yield _low(trade), 2
    yield _initials(trade), 2
    yield _low(d.get("english_name")), 3


def _drug_text(d: dict[str, Any]) -> str:
    parts = (d.get("generic_name"), d.get("trade_name"), d.get("english_name"), d.get("pinyin"))
    return "\x1f".join(_low(p) for p in parts if p)


def _diagnosis_keys(d: dict[str, Any]) -> Iterable[tuple[str, int]]:
    code = _low(d.get("code"))
    yield code, 0
    yield code.replace(".", ""), 0
    yield _low(d.get("pinyin")), 1
    yield _low(d.get("name_zh")), 1
    yield _low(d.get("name_en")), 3


def _diagnosis_text(d: dict[str, Any]) -> str:
    parts = (d.get("name_zh"), d.get("name_en"), d.get("pinyin"))
    return "\x1f".join(_low(p) for p in parts if p)


@dataclass(frozen=True)
class Searchable:
    keys: KeyFn
    text: TextFn


SEARCHABLE: dict[str, Searchable] = {
    "patient": Searchable(_patient_keys, _patient_text),
    "drug": Searchable(_drug_keys, _drug_text),
    "diagnosis": Searchable(_diagnosis_keys, _diagnosis_text),
}


def keys_of(kind: str, data: dict[str, Any]) -> list[tuple[str, int]]:
    """Distinct non-empty (key, rank) pairs of a row, best rank per key."""
    best: dict[str, int] = {}
    for key, rank in SEARCHABLE[kind].keys(data):
        if key and rank < best.get(key, 99):
            best[key] = rank
    return list(best.items())


def index_rows(conn: sqlite3.Connection, kind: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Replace the search entries of ``rows`` (id, data); voided rows are left out of search."""
    spec = SEARCHABLE.get(kind)
    if spec is None or not rows:
        return
    ids = [(kind, entity_id) for entity_id, _ in rows]
    conn.executemany("DELETE FROM search_key WHERE kind = ? AND id = ?", ids)
    conn.executemany("DELETE FROM search_text WHERE kind = ? AND id = ?", ids)
    keys: list[tuple[str, str, str, int]] = []
    texts: list[tuple[str, str, str]] = []
    for entity_id, data in rows:
        if data.get("voided"):
            continue
        keys.extend((kind, key, entity_id, rank) for key, rank in keys_of(kind, data))
        texts.append((kind, entity_id, spec.text(data)))
    conn.executemany("INSERT INTO search_key (kind, key, id, rank) VALUES (?, ?, ?, ?)", keys)
    conn.executemany("INSERT INTO search_text (kind, id, text) VALUES (?, ?, ?)", texts)


def index_new_rows(conn: sqlite3.Connection, kind: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Like ``index_rows`` for rows that were not in the store before: no deletes."""
    spec = SEARCHABLE.get(kind)
    if spec is None or not rows:
        return
    keys: list[tuple[str, str, str, int]] = []
    texts: list[tuple[str, str, str]] = []
    for entity_id, data in rows:
        if data.get("voided"):
            continue
        keys.extend((kind, key, entity_id, rank) for key, rank in keys_of(kind, data))
        texts.append((kind, entity_id, spec.text(data)))
    conn.executemany("INSERT INTO search_key (kind, key, id, rank) VALUES (?, ?, ?, ?)", keys)
    conn.executemany("INSERT INTO search_text (kind, id, text) VALUES (?, ?, ?)", texts)


# Reference kinds change rarely, so their substring search runs over an in-memory copy of their text
# (``str.find`` over one joined string); other kinds scan ``search_text`` in SQLite.
MEMORY_TEXT_KINDS = frozenset({"drug", "diagnosis"})
_CONTROL = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True)
class TextSnapshot:
    """The search text of one kind joined by newlines, with each row's start offset and id."""

    generation: int
    blob: str
    starts: list[int]
    ids: list[str]

    @classmethod
    def load(cls, conn: sqlite3.Connection, kind: str, generation: int) -> TextSnapshot:
        rows = conn.execute("SELECT id, text FROM search_text WHERE kind = ?", (kind,)).fetchall()
        starts, offset = [], 0
        for _, text in rows:
            starts.append(offset)
            offset += len(text) + 1
        return cls(generation, "\n".join(text for _, text in rows), starts, [i for i, _ in rows])

    def find(self, fragment: str, limit: int, skip: set[str]) -> list[str]:
        found: list[str] = []
        position = 0
        while len(found) < limit:
            hit = self.blob.find(fragment, position)
            if hit < 0:
                break
            row = bisect.bisect_right(self.starts, hit) - 1
            if self.ids[row] not in skip:
                found.append(self.ids[row])
            position = self.starts[row + 1] if row + 1 < len(self.starts) else len(self.blob)
        return found


def query_ids(
    conn: sqlite3.Connection,
    kind: str,
    query: str,
    limit: int,
    text_snapshot: TextSnapshot | None = None,
    usage: Usage | None = None,
) -> list[str]:
    """Ids of confirmed rows matching ``query``, best first: exact key, then prefix (by rank, shortest
    key), then substring of the names (from ``text_snapshot`` when given, else a scan).

    With ``usage`` (how often this doctor and the department chose each item): exact matches first,
    then prefix matches, then substring matches, each group by the doctor's own count, then the
    department's, then as without. A used item that matches is always a candidate, however many
    unused items sort before it in the index."""
    q = _CONTROL.sub("", normalize_query(query))
    if not q or limit <= 0:
        return []
    upper = q + "\U0010ffff"
    hits = conn.execute(
        "SELECT id, key, rank FROM search_key WHERE kind = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?",
        (kind, q, upper, limit * 4),
    ).fetchall()
    best: dict[str, tuple[int, int, int, str]] = {}
    for entity_id, key, rank in hits:
        score = (0 if key == q else 1, rank, len(key), key)
        if entity_id not in best or score < best[entity_id]:
            best[entity_id] = score
    if usage is not None and usage.counts:
        return _with_usage(q, limit, best, usage, text_snapshot, conn, kind)
    ordered = sorted(best, key=lambda i: (best[i], i))[:limit]
    if len(ordered) < limit:
        more = _fragment_matches(q, limit - len(ordered), set(ordered), text_snapshot, conn, kind)
        ordered.extend(more)
    return ordered


def match_score(kind: str, data: dict[str, Any], query: str) -> tuple[int, int, int, str] | None:
    """Python twin of ``query_ids`` for one row (used for pending overlay rows); None if no match."""
    q = normalize_query(query)
    if not q or data.get("voided"):
        return None
    best: tuple[int, int, int, str] | None = None
    for key, rank in keys_of(kind, data):
        if key.startswith(q):
            score = (0 if key == q else 1, rank, len(key), key)
            best = score if best is None or score < best else best
    if best is None and q in SEARCHABLE[kind].text(data):
        best = (2, 9, 0, "")
    return best


# ------------------------------------------------------------------------------------ usage ranking


@dataclass(frozen=True)
class Usage:
    """How often one doctor (``mine``) and their department chose each item of a kind (drug ids from
    their prescriptions, diagnosis ids from their visit notes), with those items' search keys and text
    so a keystroke can match them without the index. Built once (``load_usage``) on the DB thread and
    reused for every keystroke; immutable, so any thread may read it."""

    counts: dict[str, tuple[int, int]]  # id -> (mine, department)
    keys: dict[str, list[tuple[str, int]]]
    texts: dict[str, str]

    def order(self, entity_id: str) -> tuple[int, int]:
        """Sort key: most used by the doctor first, then by the department."""
        mine, department = self.counts.get(entity_id, (0, 0))
        return (-mine, -department)

    @cached_property
    def _sorted_keys(self) -> tuple[list[str], list[tuple[str, int]]]:
        pairs = sorted((key, entity_id, rank) for entity_id, keys in self.keys.items() for key, rank in keys)
        return [p[0] for p in pairs], [(p[1], p[2]) for p in pairs]

    def matches(self, q: str) -> dict[str, tuple[int, int, int, str]]:
        """The used items that ``q`` (normalised) matches, scored as ``query_ids`` scores them (a
        bisect over their sorted keys, then a substring test of the few texts left)."""
        found: dict[str, tuple[int, int, int, str]] = {}
        keys, owners = self._sorted_keys
        start = bisect.bisect_left(keys, q)
        end = bisect.bisect_left(keys, q + "\U0010ffff", start)
        for position in range(start, end):
            key = keys[position]
            entity_id, rank = owners[position]
            score = (0 if key == q else 1, rank, len(key), key)
            if entity_id not in found or score < found[entity_id]:
                found[entity_id] = score
        for entity_id, text in self.texts.items():
            if entity_id not in found and q in text:
                found[entity_id] = (2, 9, 0, "")
        return found


EMPTY_USAGE = Usage({}, {}, {})

_DRUG_USE = """
    SELECT json_extract(l.value, '$.drug.id'), json_extract(e.data, '$.doctor_id') = ?, count(*)
    FROM entity e, json_each(e.data, '$.lines') l
    WHERE e.kind = 'rx' AND NOT coalesce(json_extract(e.data, '$.voided'), 0)
      AND (json_extract(e.data, '$.doctor_id') = ? OR json_extract(e.data, '$.department_id') = ?)
    GROUP BY 1, 2
"""
_DIAGNOSIS_USE = """
    SELECT json_extract(d.value, '$.code'), json_extract(e.data, '$.doctor_id') = ?, count(*)
    FROM entity e, json_each(e.data, '$.diagnoses') d
    WHERE e.kind = 'emr_note' AND NOT coalesce(json_extract(e.data, '$.voided'), 0)
      AND (json_extract(e.data, '$.doctor_id') = ? OR json_extract(e.data, '$.department_id') = ?)
    GROUP BY 1, 2
"""


def load_usage(conn: sqlite3.Connection, kind: str, *, doctor_id: str, department_id: str | None) -> Usage:
    """Count the doctor's and the department's own choices in the local store (``kind`` "drug" from
    prescriptions, "diagnosis" from visit notes) and keep the used items' search keys."""
    if kind not in ("drug", "diagnosis"):
        return EMPTY_USAGE
    sql = _DRUG_USE if kind == "drug" else _DIAGNOSIS_USE
    counts: dict[str, list[int]] = {}
    for item, mine, n in conn.execute(sql, (doctor_id, doctor_id, department_id or "\x00")):
        if not item:
            continue
        entry = counts.setdefault(str(item), [0, 0])
        entry[1] += n
        if mine:
            entry[0] += n
    if kind == "diagnosis" and counts:  # notes keep codes: find the dictionary rows
        by_code: dict[str, list[int]] = {}
        for chunk in _chunks(list(counts)):
            marks = ",".join("?" * len(chunk))
            for entity_id, code in conn.execute(
                f"SELECT id, json_extract(data, '$.code') FROM entity WHERE kind = 'diagnosis' "
                f"AND json_extract(data, '$.code') IN ({marks})",
                chunk,
            ):
                by_code[entity_id] = counts[code]
        counts = by_code
    keys: dict[str, list[tuple[str, int]]] = {}
    texts: dict[str, str] = {}
    for chunk in _chunks(list(counts)):
        marks = ",".join("?" * len(chunk))
        for entity_id, key, rank in conn.execute(
            f"SELECT id, key, rank FROM search_key WHERE kind = ? AND id IN ({marks})", (kind, *chunk)
        ):
            keys.setdefault(entity_id, []).append((key, rank))
        for entity_id, text in conn.execute(
            f"SELECT id, text FROM search_text WHERE kind = ? AND id IN ({marks})", (kind, *chunk)
        ):
            texts[entity_id] = text
    # an item no longer searchable (voided) is not offered
    return Usage({i: (c[0], c[1]) for i, c in counts.items() if i in keys}, keys, texts)


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _with_usage(
    q: str,
    limit: int,
    best: dict[str, tuple[int, int, int, str]],
    usage: Usage,
    text_snapshot: TextSnapshot | None,
    conn: sqlite3.Connection,
    kind: str,
) -> list[str]:
    for entity_id, score in usage.matches(q).items():
        if entity_id not in best or score < best[entity_id]:
            best[entity_id] = score
    if len(best) < limit:
        for entity_id in _fragment_matches(q, limit - len(best), set(best), text_snapshot, conn, kind):
            best[entity_id] = (2, 9, 0, "")

    def order(entity_id: str) -> tuple[Any, ...]:
        match, rank, length, key = best[entity_id]
        group = 0 if match == 0 else (1 if match == 1 else 2)
        return (group, *usage.order(entity_id), rank, length, key, entity_id)

    return sorted(best, key=order)[:limit]


def _fragment_matches(
    q: str,
    count: int,
    seen: set[str],
    text_snapshot: TextSnapshot | None,
    conn: sqlite3.Connection,
    kind: str,
) -> list[str]:
    """Up to ``count`` more ids of ``kind`` whose text contains ``q`` anywhere, not already ``seen``: from
    the in-memory text snapshot when there is one, else from the ``search_text`` table."""
    if text_snapshot is not None:
        more = text_snapshot.find(q, count, seen)
    else:
        more = [
            entity_id
            for (entity_id,) in conn.execute(
                "SELECT id FROM search_text WHERE kind = ? AND instr(text, ?) > 0 LIMIT ?",
                (kind, q, count + len(seen)),
            )
            if entity_id not in seen
        ]
    return list(more[:count])
