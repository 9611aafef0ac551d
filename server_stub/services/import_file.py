"""A file a reference-data or staff import reads: its name, its sha256, its rows and the moment of the
import; and the audit entry of an import that changed something."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from server_stub.services import audit
from shared.reference_io.tables import Table, read_table


@dataclass(frozen=True)
class ImportFile:
    name: str  # as the user named it (the upload's name), else the file's
    digest: str  # sha256 of its bytes
    table: Table
    now: dt.datetime

    @classmethod
    def read(cls, path: Path, source_name: str | None, sheet: str | None) -> ImportFile:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(source_name or path.name, digest, read_table(path, sheet=sheet), dt.datetime.now(dt.UTC))

    def audit_applied(
        self,
        conn: Connection,
        kind: str,
        detail: dict[str, Any],
        *,
        username: str | None,
        staff_id: str | None,
        device_id: str | None,
    ) -> None:
        """The ``reference.import`` audit entry of this file applied: name, digest, row count, ``detail``."""
        audit_import(
            conn,
            at=self.now,
            target=f"{kind}:{self.name}",
            file=(self.name, self.digest),
            detail={"rows": len(self.table.rows), **detail},
            username=username,
            staff_id=staff_id,
            device_id=device_id,
        )


def audit_import(
    conn: Connection,
    *,
    at: dt.datetime,
    target: str,
    file: tuple[str, str],
    detail: dict[str, Any],
    username: str | None,
    staff_id: str | None,
    device_id: str | None,
) -> None:
    """The ``reference.import`` audit entry of an import that changed something: ``target`` (kind:file),
    the file's name and sha256 (``file``) and ``detail``. Every kind of import writes this one shape."""
    name, digest = file
    audit.defer(
        conn,
        at=at,
        action="reference.import",
        outcome="applied",
        username=username,
        staff_id=staff_id,
        device_id=device_id,
        target=target[:128],
        detail={"file": name, "sha256": digest, **detail},
    )
