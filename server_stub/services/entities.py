"""Entity rows on the server: read them as shared entity models, write them with version checks and
publish each write to the change feed in the same transaction."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Connection,
    Insert,
    Numeric,
    Select,
    Update,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)

from server_stub.db.engine import pending, transaction_state
from server_stub.db.tables import ENTITY_TABLES, UTCDateTime, campus_patient, change_index, sync_counter
from shared.domain.entities import ENTITY_BY_KIND, Entity, Patient
from shared.errors import Conflict

E = TypeVar("E", bound=Entity)

# Statements built once with bound parameters: building a statement per call (and hashing its values
# for SQLAlchemy's compiled cache) cost several times more than running it, on every write.
_BUMP_COUNTER = (
    update(sync_counter)
    .where(sync_counter.c.name == bindparam("b_name"))
    .values(value=sync_counter.c.value + bindparam("b_step"))
    .returning(sync_counter.c.value)
)
_READ_COUNTER = select(sync_counter.c.value).where(sync_counter.c.name == bindparam("b_name"))
_UNINDEX = delete(change_index).where(
    change_index.c.kind == bindparam("b_kind"), change_index.c.entity_id == bindparam("b_entity_id")
)
_INDEX = insert(change_index)


@functools.cache
def _by_id(kind: str) -> Select[Any]:
    table = ENTITY_TABLES[kind]
    return select(table).where(table.c.id == bindparam("b_id"))


@functools.cache
def _by_ids(kind: str) -> Select[Any]:
    table = ENTITY_TABLES[kind]
    return select(table).where(table.c.id.in_(bindparam("b_ids", expanding=True)))


@functools.cache
def _insert(kind: str) -> Insert:
    return insert(ENTITY_TABLES[kind])


@functools.cache
def _update_next_version(kind: str) -> Update:
    table = ENTITY_TABLES[kind]
    return update(table).where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_prev"))


def to_entity(kind: type[E], row: Any) -> E:
    return kind.model_validate(dict(row._mapping))


class NotStoredExactly(ValueError):
    """A value the database would round (a decimal finer than its column's scale)."""


def _decimal_at_scale(scale: int) -> Callable[[Any], Any]:
    step = Decimal(1).scaleb(-scale)

    def normalize(value: Any) -> Any:
        stored = value.quantize(step)
        if stored != value:
            raise NotStoredExactly(f"{value} has more than {scale} decimal places")
        return stored

    return normalize


def _utc(value: Any) -> Any:
    return value.astimezone(dt.UTC)


def _json_round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value))


@functools.cache
def _column_normalizers(kind: str) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    found: list[tuple[str, Callable[[Any], Any]]] = []
    for column in ENTITY_TABLES[kind].columns:
        if isinstance(column.type, UTCDateTime):
            found.append((column.name, _utc))
        elif isinstance(column.type, Numeric) and column.type.scale is not None:
            found.append((column.name, _decimal_at_scale(column.type.scale)))
        elif isinstance(column.type, JSON):
            found.append((column.name, _json_round_trip))
    return tuple(found)


def as_stored(entity: E) -> E:
    """``entity`` exactly as reading its row back would give it (``to_entity``), without reading it:
    timestamps in UTC, decimals at their column's scale, JSON values as JSON gives them back. Raises
    ``NotStoredExactly`` for a value the database would round; the caller then reads the row."""
    values = entity.model_dump()
    for name, normalize in _column_normalizers(entity.KIND):
        if values.get(name) is not None:
            values[name] = normalize(values[name])
    return type(entity).model_validate(values)


class ServerState:
    """The ``StateReader`` the shared mutation handlers get on the server: reads within the transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Whether the handler has written (a counter), so a refusal must be undone.
        self.wrote = False

    def get(self, kind: type[E], entity_id: str) -> E | None:
        ahead = _read_ahead(self.conn)
        key = (kind.KIND, entity_id)
        if ahead is not None and key in ahead:
            row = ahead[key]
        else:
            row = self.conn.execute(_by_id(kind.KIND), {"b_id": entity_id}).first()
        return None if row is None else to_entity(kind, row)

    def find(self, kind: type[E], **equals: Any) -> list[E]:
        table = ENTITY_TABLES[kind.KIND]
        allowed = {"id", *kind.INDEXES, *kind.UNIQUE}
        unknown = set(equals) - allowed
        if unknown:
            raise ValueError(f"{kind.KIND} cannot be searched by {sorted(unknown)}")
        query = select(table)
        for column, value in equals.items():
            query = query.where(table.c[column] == value)
        return [to_entity(kind, row) for row in self.conn.execute(query.order_by(table.c.id).limit(1000))]

    def next_number(self, counter: str) -> int | None:
        self.wrote = True
        return next_counter(self.conn, counter)


# Counters whose numbers may have gaps live in a PostgreSQL sequence there (migration 0009): taking a
# number locks nothing, so transactions of several server processes do not queue on the counter row
# until they commit; a transaction that rolls back leaves its number unused. SQLite, one writer at a
# time, keeps them in ``sync_counter`` like the others.
SEQUENCE_COUNTERS = {"mrn": "counter_mrn"}
_NEXTVAL = {name: text(f"SELECT nextval('{seq}')") for name, seq in SEQUENCE_COUNTERS.items()}
_NEXTVALS = {
    name: text(f"SELECT nextval('{seq}') FROM generate_series(1, :b_count)")
    for name, seq in SEQUENCE_COUNTERS.items()
}
_LOCK_FEED = _READ_COUNTER.with_for_update()


def _sequenced(conn: Connection, name: str) -> bool:
    return name in SEQUENCE_COUNTERS and conn.dialect.name == "postgresql"


def next_counter(conn: Connection, name: str, step: int = 1) -> int:
    """Increment a named counter inside the caller's transaction and return its new value."""
    if step == 1 and _sequenced(conn, name):
        pool = _number_pools(conn).get(name)
        if pool:
            return pool.popleft()
        return int(conn.execute(_NEXTVAL[name]).scalar_one())
    result = conn.execute(_BUMP_COUNTER, {"b_name": name, "b_step": step}).scalar_one_or_none()
    if result is None:
        conn.execute(insert(sync_counter).values(name=name, value=step))
        return step
    return int(result)


# Read ahead for a group of mutations (``read_ahead``): rows by (kind, id), None for "no such row".
_READ_AHEAD = "entities_read_ahead"
_NUMBER_POOLS = "entities_number_pools"


def read_ahead(conn: Connection, keys: Iterable[tuple[str, str]], numbers: Iterable[str] = ()) -> None:
    """Read the rows ``keys`` names in one statement per kind, for ``ServerState.get`` to answer from
    for the rest of the ``Database.write`` transaction ``conn`` is in (a row written meanwhile is read
    again); and, on PostgreSQL, take the numbers ``numbers`` lists (one per use) from their sequences
    in one statement each, for ``next_counter`` to hand out in order (numbers left unused are gaps, as
    after any rollback)."""
    state = transaction_state(conn)
    if state is None:
        return
    by_kind: dict[str, set[str]] = {}
    for kind, entity_id in keys:
        if kind in ENTITY_TABLES:
            by_kind.setdefault(kind, set()).add(entity_id)
    ahead: dict[tuple[str, str], Any] = state.setdefault(_READ_AHEAD, {})
    for kind, ids in by_kind.items():
        wanted = sorted(ids)
        for start in range(0, len(wanted), 900):  # under SQL parameter limits
            chunk = wanted[start : start + 900]
            ahead.update(((kind, entity_id), None) for entity_id in chunk)
            for row in conn.execute(_by_ids(kind), {"b_ids": chunk}):
                ahead[(kind, row.id)] = row
    counts = Counter(name for name in numbers if _sequenced(conn, name))
    pools: dict[str, deque[int]] = state.setdefault(_NUMBER_POOLS, {})
    for name, count in counts.items():
        values = conn.execute(_NEXTVALS[name], {"b_count": count}).scalars()
        pools.setdefault(name, deque()).extend(sorted(int(v) for v in values))


def _read_ahead(conn: Connection) -> dict[tuple[str, str], Any] | None:
    state = transaction_state(conn)
    return state.get(_READ_AHEAD) if state is not None else None


def _number_pools(conn: Connection) -> dict[str, deque[int]]:
    state = transaction_state(conn)
    return state.get(_NUMBER_POOLS, {}) if state is not None else {}


def set_counter(conn: Connection, name: str, value: int) -> None:
    """Set a counter so that its next number is ``value + 1`` (seeding)."""
    conn.execute(update(sync_counter).where(sync_counter.c.name == name).values(value=value))
    if _sequenced(conn, name):
        conn.execute(
            text("SELECT setval(:seq, :value, :called)"),
            {"seq": SEQUENCE_COUNTERS[name], "value": max(value, 1), "called": value > 0},
        )


def lock_feed(conn: Connection) -> None:
    """Lock the feed counter for the rest of the caller's transaction. Transactions that need both the
    feed counter and the audit chain's head take them in this order (a push group's end does), so
    they never wait for each other in a circle."""
    conn.execute(_LOCK_FEED, {"b_name": "change_seq"})


def read_counter(conn: Connection, name: str) -> int:
    value = conn.execute(_READ_COUNTER, {"b_name": name}).scalar_one_or_none()
    return int(value or 0)


def _row_values(entity: Entity) -> dict[str, Any]:
    return entity.model_dump()


def write_entities(
    conn: Connection,
    writes: Sequence[Entity],
    *,
    on_seq: Callable[[int], None] | None = None,
    campus_id: str | None = None,
    today: dt.date | None = None,
) -> int | None:
    """Insert or update each entity (version 1 inserts; version n updates version n-1 only) and move
    them to the head of the change feed (``publish``). ``on_seq`` gets the highest feed sequence of
    these writes; so does the caller, unless the sequences are given at the transaction's end.
    ``campus_id`` is where the writer works: a patient registered or updated there is needed there
    (``patient_scope``)."""
    if not writes:
        return None
    ahead = _read_ahead(conn)
    for entity in writes:
        if ahead is not None:
            ahead.pop((entity.KIND, entity.id), None)  # read again if asked for
        values = _row_values(entity)
        if entity.version == 1:
            conn.execute(_insert(entity.KIND), values)
            continue
        changed = conn.execute(
            _update_next_version(entity.KIND), {**values, "b_id": entity.id, "b_prev": entity.version - 1}
        ).rowcount
        if changed != 1:
            raise Conflict(
                f"{entity.KIND} {entity.id} changed concurrently; expected version {entity.version - 1}"
            )
    # A version-1 row was just inserted (its primary key was free), so it has no older feed position.
    fresh = all(entity.version == 1 for entity in writes)
    keys = [(entity.KIND, entity.id, entity.scope_key()) for entity in writes]
    links = _writer_links(writes, campus_id, today)
    return publish(conn, keys, fresh=fresh, on_seq=on_seq, entities=writes, links=links)


@dataclass
class _Publication:
    keys: list[tuple[str, str, str]]
    fresh: bool
    on_seq: Callable[[int], None] | None
    entities: Sequence[Entity] = ()
    # (patient, campus) -> day: campuses that need a patient because of these writes
    links: dict[tuple[str, str], dt.date] | None = None


# -- need-to-know: which campuses receive which patients ------------------------------------------
# A patient is sent to the PCs of the campuses that had business with them (a visit, appointment,
# queue ticket, prescription, note, order, dispense … there, or a registration or update made there)
# on a day no older than this many days. Changes of such rows tie the patient to the campus
# (``campus_patient``); a patient newly tied (or tied again after the window passed) moves to the
# head of the feed with its new scope, so the campus's PCs receive it. A patient's feed scope is
# ``|<campus>|<campus>|`` ('|' alone: no PC receives it); a bootstrap sends only the patients whose tie
# to the caller's campus is inside the window.
PATIENT_WINDOW_DAYS = 30
PATIENT_SCOPE_MARK = "|"
_DAY_FIELDS = ("visit_date", "day", "date", "slot_time")


def _activity_day(entity: Entity, fallback: dt.date) -> dt.date:
    for name in _DAY_FIELDS:
        value = getattr(entity, name, None)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
    return fallback


def _writer_links(
    writes: Sequence[Entity], campus_id: str | None, today: dt.date | None
) -> dict[tuple[str, str], dt.date] | None:
    if not campus_id:
        return None
    day = today or dt.datetime.now(dt.UTC).date()
    links = {(e.id, campus_id): day for e in writes if isinstance(e, Patient)}
    return links or None


def _entity_links(entities: Iterable[Entity], today: dt.date) -> dict[tuple[str, str], dt.date]:
    links: dict[tuple[str, str], dt.date] = {}
    for entity in entities:
        patient_id = getattr(entity, "patient_id", None)
        campus_id = getattr(entity, "campus_id", None)
        if not patient_id or not campus_id or entity.SCOPE != "campus":
            continue
        day = _activity_day(entity, today)
        key = (str(patient_id), str(campus_id))
        if key not in links or links[key] < day:
            links[key] = day
    return links


def patient_cutoff(today: dt.date | None = None) -> dt.date:
    """The oldest day of business that still ties a patient to a campus (a day of slack for time zones)."""
    return (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=PATIENT_WINDOW_DAYS + 1)


def patient_scope(campuses: Iterable[str]) -> str:
    """The feed scope of a patient needed at ``campuses``."""
    return PATIENT_SCOPE_MARK + "".join(f"{c}{PATIENT_SCOPE_MARK}" for c in sorted(set(campuses)))


_LINKS_OF = select(campus_patient.c.patient_id, campus_patient.c.campus_id, campus_patient.c.last_day).where(
    campus_patient.c.patient_id.in_(bindparam("b_ids", expanding=True))
)


@functools.cache
def _upsert_ties(dialect: str) -> Any:
    """Insert a tie, or move its day forward: writers of several server processes may tie the same
    patient at once (PostgreSQL), so a tie another transaction just made is updated, never an error."""
    from sqlalchemy.dialects import postgresql, sqlite

    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(campus_patient)
    return statement.on_conflict_do_update(
        index_elements=[campus_patient.c.patient_id, campus_patient.c.campus_id],
        set_={"last_day": statement.excluded.last_day},
        where=campus_patient.c.last_day < statement.excluded.last_day,
    )


def _tie_patients(
    conn: Connection, publications: list[_Publication], latest: dict[tuple[str, str], str]
) -> set[tuple[str, str]]:
    """Record which campuses need the patients these publications touch, give every patient in
    ``latest`` its campus scope, and add patients newly needed somewhere to ``latest`` (returned: they
    have an older feed position to remove)."""
    today = dt.datetime.now(dt.UTC).date()
    links: dict[tuple[str, str], dt.date] = {}
    for publication in publications:
        found = _entity_links(publication.entities, today)
        if publication.links:
            found.update({k: v for k, v in publication.links.items() if k not in found or found[k] < v})
        for key, day in found.items():
            if key not in links or links[key] < day:
                links[key] = day
    published_patients = {entity_id for kind, entity_id in latest if kind == "patient"}
    patient_ids = published_patients | {patient_id for patient_id, _ in links}
    if not patient_ids:
        return set()
    cutoff = patient_cutoff(today)
    known: dict[tuple[str, str], dt.date] = {}
    wanted = sorted(patient_ids)
    for start in range(0, len(wanted), 900):
        for row in conn.execute(_LINKS_OF, {"b_ids": wanted[start : start + 900]}):
            known[(row.patient_id, row.campus_id)] = row.last_day
    gained: set[str] = set()
    ties = []
    for (patient_id, campus_id), day in sorted(links.items()):  # one order: no lock cycles between writers
        before = known.get((patient_id, campus_id))
        if before is not None and day <= before:
            continue
        ties.append({"patient_id": patient_id, "campus_id": campus_id, "last_day": day})
        known[(patient_id, campus_id)] = day
        if (before is None or before < cutoff) and day >= cutoff:
            gained.add(patient_id)
    if ties:
        conn.execute(_upsert_ties(conn.dialect.name), ties)
    scopes: dict[str, list[str]] = {}
    for (patient_id, campus_id), day in known.items():
        if day >= cutoff:
            scopes.setdefault(patient_id, []).append(campus_id)
    moved: set[tuple[str, str]] = set()
    for patient_id in published_patients:
        latest[("patient", patient_id)] = patient_scope(scopes.get(patient_id, ()))
    newly = sorted(gained - published_patients)
    if not newly:
        return moved
    # a patient newly needed at a campus goes to the head, after the rows that tie it; only one that
    # exists (a row may name a patient whose registration is not applied yet: that brings it itself)
    existing = {
        row.id
        for start in range(0, len(newly), 900)
        for row in conn.execute(_by_ids("patient"), {"b_ids": newly[start : start + 900]})
    }
    for patient_id in newly:
        if patient_id in existing:
            key = ("patient", patient_id)
            latest[key] = patient_scope(scopes.get(patient_id, ()))
            moved.add(key)
    return moved


@dataclass(frozen=True)
class Published:
    """One feed position a write transaction gave (``published``): the entity as it was written, or
    None when the publisher gave only its key."""

    seq: int
    kind: str
    entity_id: str
    scope: str
    entity: Entity | None


_FEED_PENDING = "feed_pending"
# The feed's sequences are given first among a transaction's end-of-transaction writes: the mutation
# log and the audit entries carry them (``engine.before_commit`` order).
FEED_FLUSH_ORDER = 0


def publish(
    conn: Connection,
    keys: Sequence[tuple[str, str, str]],
    *,
    fresh: bool = False,
    on_seq: Callable[[int], None] | None = None,
    entities: Sequence[Entity] = (),
    links: dict[tuple[str, str], dt.date] | None = None,
) -> int | None:
    """Move each (kind, id, scope) to the head of the change feed; ``fresh`` says the entities are new,
    so they have no older feed position to remove. ``on_seq`` gets the highest sequence used;
    ``entities`` are the written entities of the keys, kept with their positions (``published``), and
    tie their patients to their campuses (``links`` adds ties of its own, see ``_tie_patients``).

    Inside a ``Database.write`` transaction the sequences are given at its end, to all of its writes
    at once (one counter update, one delete and one insert per transaction; the feed counter's row
    lock is then held only for the end of the transaction) and None is returned; outside one, now."""
    publication = _Publication(list(keys), fresh, on_seq, entities, links)
    rows = pending(conn, _FEED_PENDING, _publish_all, order=FEED_FLUSH_ORDER)
    if rows is not None:
        rows.append(publication)
        return None
    return _publish_all(conn, [publication])


def _publish_all(conn: Connection, publications: list[_Publication]) -> int | None:
    """One feed position per entity, in the order written (an entity written twice sits at its later
    position); each publication's ``on_seq`` gets the highest position of its entities."""
    latest: dict[tuple[str, str], str] = {}
    for publication in publications:
        for kind, entity_id, scope in publication.keys:
            latest.pop((kind, entity_id), None)
            latest[(kind, entity_id)] = scope
    moved = _tie_patients(conn, publications, latest)
    if not latest:
        return None
    top = next_counter(conn, "change_seq", len(latest))
    position = {key: top - len(latest) + 1 + n for n, key in enumerate(latest)}
    stale = {(k, i) for p in publications if not p.fresh for k, i, _ in p.keys} | moved
    if stale:
        conn.execute(_UNINDEX, [{"b_kind": kind, "b_entity_id": entity_id} for kind, entity_id in stale])
    conn.execute(
        _INDEX,
        [
            {"seq": position[key], "kind": key[0], "entity_id": key[1], "scope": scope}
            for key, scope in latest.items()
        ],
    )
    for publication in publications:
        if publication.on_seq is not None and publication.keys:
            publication.on_seq(max(position[(k, i)] for k, i, _ in publication.keys))
    state = transaction_state(conn)
    if state is not None:
        written = {(e.KIND, e.id): e for p in publications for e in p.entities}
        state[_PUBLISHED] = [
            Published(position[key], key[0], key[1], scope, written.get(key)) for key, scope in latest.items()
        ]
    return top


_PUBLISHED = "feed_published"


def published(state: dict[str, Any]) -> list[Published]:
    """The feed positions the write transaction whose ``engine.transaction_state`` is ``state`` gave
    at its end, in sequence order (one contiguous run; empty if it published nothing)."""
    return list(state.get(_PUBLISHED, ()))


def bulk_insert(conn: Connection, entities: Iterable[Entity], *, chunk: int = 2000) -> int:
    """Insert many new entities (seeding); each gets a feed sequence. Returns how many were written."""
    batch: list[Entity] = []
    total = 0
    for entity in entities:
        batch.append(entity)
        if len(batch) >= chunk:
            total += _insert_batch(conn, batch)
            batch = []
    if batch:
        total += _insert_batch(conn, batch)
    return total


def _insert_batch(conn: Connection, batch: list[Entity]) -> int:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for entity in batch:
        by_kind.setdefault(entity.KIND, []).append(_row_values(entity))
    for kind, rows in by_kind.items():
        conn.execute(insert(ENTITY_TABLES[kind]), rows)
    # at once, not at the transaction's end: a seeding transaction may write millions of rows
    _publish_all(conn, [_Publication([(e.KIND, e.id, e.scope_key()) for e in batch], True, None, batch)])
    return len(batch)


def load_many(conn: Connection, kind: str, ids: Sequence[str]) -> dict[str, Entity]:
    """Entities of one kind by id, in chunks that stay under SQL parameter limits."""
    entity_type = ENTITY_BY_KIND[kind]
    found: dict[str, Entity] = {}
    for start in range(0, len(ids), 900):
        chunk = list(ids[start : start + 900])
        for row in conn.execute(_by_ids(kind), {"b_ids": chunk}):
            entity = to_entity(entity_type, row)
            found[entity.id] = entity
    return found
