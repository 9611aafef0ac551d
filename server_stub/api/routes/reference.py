"""``/api/v1/reference``: read reference data (drugs, ICD-10, departments …) with a simple search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import or_, select

from server_stub.api.deps import AnyStaffDep, DbDep
from server_stub.db.tables import ENTITY_TABLES
from server_stub.services.entities import to_entity
from shared.domain.entities import ENTITY_BY_KIND
from shared.domain.search_keys import normalize_query
from shared.protocol.models import ErrorBody

router = APIRouter(prefix="/reference", tags=["reference"])

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
_SEARCH: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "drug": (("code", "pinyin"), ("generic_name", "trade_name", "english_name")),
    "diagnosis": (("code", "pinyin"), ("name_zh", "name_en")),
    "exam_item": (("code", "pinyin"), ("name_zh", "name_en")),
    "staff": (("username",), ("name",)),
}
_DEFAULT_SEARCH = (("code",), ("name",))


@router.get("/{kind}", responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def list_reference(
    kind: ReferenceKind,
    _principal: AnyStaffDep,
    db: DbDep,
    q: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    entity_type = ENTITY_BY_KIND[kind]
    table = ENTITY_TABLES[kind]
    query = select(table).where(table.c.voided.is_(False))
    text = normalize_query(q)
    if text:
        prefix_cols, contains_cols = _SEARCH.get(kind, _DEFAULT_SEARCH)
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions = [table.c[c].ilike(f"{escaped}%", escape="\\") for c in prefix_cols if c in table.c]
        conditions += [table.c[c].ilike(f"%{escaped}%", escape="\\") for c in contains_cols if c in table.c]
        query = query.where(or_(*conditions))
    order = table.c.get("code", table.c.id)
    with db.read() as conn:
        rows = conn.execute(query.order_by(order).limit(limit)).all()
    return [to_entity(entity_type, row).model_dump(mode="json") for row in rows]
