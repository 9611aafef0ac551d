"""The local database schema as ordered migration steps (``PRAGMA user_version``), and the key slots.

Each step is applied once, in order, inside one transaction. Never edit a released step; add a new one.

``LocalView.find`` looks rows up by equality on a kind's ``INDEXES`` and ``UNIQUE`` fields. Rather than
one JSON expression index per field (every write would parse the JSON once per index), each row carries
the values of its kind's first ``KEY_SLOTS`` such fields in plain columns ``k1``…``k8``, filled in Python
when the row is written and indexed as ``(kind, kN)``. The layout is derived from the entity models; when
a new app version changes it, ``open`` refills the columns (see ``LocalStore.open``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from shared.domain.entities import ENTITY_TYPES

# Enough for every kind's fields (rx has 8: a field beyond the slots is a scan with json_extract over
# every row of the kind, which made each replayed LAN ``rx.create``, looking its number up, cost ~10 ms
# per 1,000 pending prescriptions).
KEY_SLOTS = 8
SLOT_COLUMNS = tuple(f"k{n}" for n in range(1, KEY_SLOTS + 1))
# kind -> its equality-searchable fields in slot order (fields beyond KEY_SLOTS are found by a scan)
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    entity.KIND: tuple(dict.fromkeys((*entity.INDEXES, *entity.UNIQUE))) for entity in ENTITY_TYPES
}
# the slot count is part of the layout: more slots means the columns are refilled
KEY_LAYOUT = json.dumps({"slots": KEY_SLOTS, "fields": KEY_FIELDS}, sort_keys=True)


def slot_value(value: Any) -> Any:
    """A JSON-mode field value as stored in a key slot (booleans as 0/1, lists and objects as JSON)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return value


def slots_of(kind: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """The k1…k8 values of a row (None where the kind has fewer fields)."""
    fields = KEY_FIELDS.get(kind, ())[:KEY_SLOTS]
    values = [slot_value(data.get(field)) for field in fields]
    return (*values, *([None] * (KEY_SLOTS - len(values))))


MIGRATIONS: tuple[str, ...] = (
    # 1: confirmed state, search tables, outbox, overlay of pending writes, sync state.
    """
    CREATE TABLE entity (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        epoch INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL,
        k1, k2, k3, k4, k5, k6,
        UNIQUE (kind, id)
    );
    CREATE INDEX ix_entity_epoch ON entity (epoch);
    CREATE INDEX ix_entity_k1 ON entity (kind, k1) WHERE k1 IS NOT NULL;
    CREATE INDEX ix_entity_k2 ON entity (kind, k2) WHERE k2 IS NOT NULL;
    CREATE INDEX ix_entity_k3 ON entity (kind, k3) WHERE k3 IS NOT NULL;
    CREATE INDEX ix_entity_k4 ON entity (kind, k4) WHERE k4 IS NOT NULL;
    CREATE INDEX ix_entity_k5 ON entity (kind, k5) WHERE k5 IS NOT NULL;
    CREATE INDEX ix_entity_k6 ON entity (kind, k6) WHERE k6 IS NOT NULL;

    CREATE TABLE search_key (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        id TEXT NOT NULL,
        rank INTEGER NOT NULL,
        PRIMARY KEY (kind, key, id)
    ) WITHOUT ROWID;
    CREATE INDEX ix_search_key_id ON search_key (kind, id);

    CREATE TABLE search_text (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID;

    CREATE TABLE outbox (
        mutation_id TEXT PRIMARY KEY,
        client_seq INTEGER NOT NULL UNIQUE,
        name TEXT NOT NULL,
        args TEXT NOT NULL,
        base_version INTEGER,
        occurred_at TEXT NOT NULL,
        staff_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'applied', 'rejected')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        code TEXT,
        message TEXT,
        warnings TEXT NOT NULL DEFAULT '[]',
        result TEXT,
        detail TEXT,
        seq INTEGER,
        local_result TEXT,
        dismissed INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        resolved_at TEXT
    );
    CREATE INDEX ix_outbox_status ON outbox (status, client_seq);

    CREATE TABLE overlay (
        mutation_id TEXT NOT NULL,
        client_seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL,
        k1, k2, k3, k4, k5, k6,
        PRIMARY KEY (mutation_id, kind, id)
    );
    CREATE INDEX ix_overlay_entity ON overlay (kind, id, client_seq);
    CREATE INDEX ix_overlay_k1 ON overlay (kind, k1) WHERE k1 IS NOT NULL;
    CREATE INDEX ix_overlay_k2 ON overlay (kind, k2) WHERE k2 IS NOT NULL;
    CREATE INDEX ix_overlay_k3 ON overlay (kind, k3) WHERE k3 IS NOT NULL;
    CREATE INDEX ix_overlay_k4 ON overlay (kind, k4) WHERE k4 IS NOT NULL;
    CREATE INDEX ix_overlay_k5 ON overlay (kind, k5) WHERE k5 IS NOT NULL;
    CREATE INDEX ix_overlay_k6 ON overlay (kind, k6) WHERE k6 IS NOT NULL;

    CREATE TABLE sync_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: the clinic hub. Outbox entries a hub shares on the LAN (delivered, not yet confirmed by the
    # central API) say when and where; the LAN's pending mutations of other PCs, replayed into the
    # overlay with client_seq = hub_seq - 2**62 (below every own entry: own pending writes stay on top).
    """
    ALTER TABLE outbox ADD COLUMN shared_at TEXT;
    ALTER TABLE outbox ADD COLUMN shared_via TEXT;
    CREATE TABLE lan_mutation (
        hub_seq INTEGER PRIMARY KEY,
        mutation_id TEXT NOT NULL UNIQUE,
        client_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        staff_id TEXT NOT NULL,
        campus_id TEXT,
        name TEXT NOT NULL,
        args TEXT NOT NULL,
        base_version INTEGER,
        occurred_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'applied')),
        seq INTEGER,
        refused INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX ix_overlay_client_seq ON overlay (client_seq);
    """,
    # 3: two more key slots, so every kind's searchable fields have one (rx: day and number; queue
    # tickets: number_key). ``refresh_key_slots`` fills them (the layout names the slot count).
    """
    ALTER TABLE entity ADD COLUMN k7;
    ALTER TABLE entity ADD COLUMN k8;
    ALTER TABLE overlay ADD COLUMN k7;
    ALTER TABLE overlay ADD COLUMN k8;
    CREATE INDEX ix_entity_k7 ON entity (kind, k7) WHERE k7 IS NOT NULL;
    CREATE INDEX ix_entity_k8 ON entity (kind, k8) WHERE k8 IS NOT NULL;
    CREATE INDEX ix_overlay_k7 ON overlay (kind, k7) WHERE k7 IS NOT NULL;
    CREATE INDEX ix_overlay_k8 ON overlay (kind, k8) WHERE k8 IS NOT NULL;
    """,
    # 4: what each pending mutation in the overlay read (``LocalView`` read tokens, by its position
    # ``client_seq``, with a fingerprint of what the read returned), and the equality shapes read per
    # kind, so a change re-runs only the mutations whose reads it touched. ``LocalStore.open`` replays the overlay once to fill them. (Columns in
    # primary-key order: SQLite 3.40's quick_check misreads a WITHOUT ROWID table declared otherwise.)
    """
    CREATE TABLE overlay_read (
        token TEXT NOT NULL,
        client_seq INTEGER NOT NULL,
        seen TEXT NOT NULL,
        PRIMARY KEY (token, client_seq)
    ) WITHOUT ROWID;
    CREATE INDEX ix_overlay_read_seq ON overlay_read (client_seq);
    CREATE TABLE overlay_shape (
        kind TEXT NOT NULL,
        fields TEXT NOT NULL,
        PRIMARY KEY (kind, fields)
    ) WITHOUT ROWID;
    """,
    # 5: read tokens that changed under the overlay while more confirmed pages were on their way (a
    # clinic hub still relaying its backlog), with the position after which each changed: the re-runs
    # they call for wait for the page that ends the burst (``LocalStore.apply_changes(more_coming=…)``)
    """
    CREATE TABLE overlay_dirt (
        token TEXT NOT NULL PRIMARY KEY,
        after INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def refresh_key_slots(conn: sqlite3.Connection) -> bool:
    """Refill k1…k6 of every row if the entity models' key layout changed since the last start (inside
    the caller's transaction). Returns True if it did."""
    row = conn.execute("SELECT value FROM sync_state WHERE key = 'key_layout'").fetchone()
    if row is not None and json.loads(row[0]) == KEY_LAYOUT:
        return False
    sets = ", ".join(f"{c} = ?" for c in SLOT_COLUMNS)
    for table in ("entity", "overlay"):
        rows = conn.execute(f"SELECT rowid, kind, data FROM {table}").fetchall()
        conn.executemany(
            f"UPDATE {table} SET {sets} WHERE rowid = ?",
            [(*slots_of(kind, json.loads(data)), rowid) for rowid, kind, data in rows],
        )
    conn.execute(
        "INSERT INTO sync_state (key, value) VALUES ('key_layout', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (json.dumps(KEY_LAYOUT),),
    )
    return True


def migrate(conn: sqlite3.Connection, current: int) -> int:
    """Apply every step after ``current`` in one transaction; returns the new version."""
    if current > SCHEMA_VERSION:
        from shared.errors import StoreError

        raise StoreError(
            f"this database was written by a newer version of the app (schema {current}, this app knows {SCHEMA_VERSION})",
            code="store_too_new",
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[current:]:
            for statement in _statements(step):
                conn.execute(statement)
        refresh_key_slots(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
