"""Print records: whether a document was printed before (then the next print is a reprint), and the
``print.record`` mutation for a job that reached its printer. One home for every app.

Both take the app's local store and run on its database thread (inside an op).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared import clinic_time
from shared.domain.entities import PrintRecord
from shared.ids import new_id
from shared.printing.kinds import record_document


def printed_before(store: Any, document: str, ref_id: str) -> bool:
    """Whether a ``print.record`` of this document (a kind key or a record document name) and row is known
    here: this PC's own, recorded offline too, or another PC's once synced."""
    wanted = record_document(document)
    return any(r.document == wanted and not r.voided for r in store.find(PrintRecord, ref_id=ref_id))


def record_print(
    store: Any,
    kind: str,
    ref_id: str,
    *,
    reprint: bool,
    copies: int = 1,
    printer: str = "",
    now: dt.datetime | None = None,
    lang: str = "zh_CN",
) -> str:
    """Record ``print.record`` for a job that reached its printer; returns the record's id.

    ``kind`` is a document kind (``drug_label`` …, ``shared.printing.kinds``) or a ``print.record``
    document name. Raises ``Rejected`` when the local rule refuses (no campus chosen, …)."""
    at = now or clinic_time.now()
    record_id = new_id()
    store.record(
        "print.record",
        {
            "id": record_id,
            "document": record_document(kind),
            "ref_id": ref_id[:64],
            "reprint": reprint,
            "copies": max(1, min(99, copies)),
            "printer": printer[:200],
            "printed_at": at if at.tzinfo else at.astimezone(),
        },
        lang=lang,
    )
    return record_id
