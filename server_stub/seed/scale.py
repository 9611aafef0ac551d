"""``clinic seed-scale``: a large data set for benchmarks (default 20,000 drugs and 50,000 patients).

Drugs are the real demo drugs repeated across manufacturers (trade names and codes differ), so searches
behave as in a big hospital formulary; patients come from the same generator as the demo's.
"""

from __future__ import annotations

from collections.abc import Iterator

from server_stub.db.engine import Database
from server_stub.db.migrate import upgrade
from server_stub.seed import reference
from server_stub.seed.people import generate_patients
from server_stub.services.clock import utcnow
from server_stub.services.entities import bulk_insert
from shared.domain.entities import Drug

MANUFACTURERS = (
    "华北制药",
    "石药集团",
    "扬子江药业",
    "恒瑞医药",
    "齐鲁制药",
    "科伦药业",
    "复星医药",
    "白云山",
    "修正药业",
    "东阳光药",
    "华润双鹤",
    "联邦制药",
    "海正药业",
    "信立泰",
    "京新药业",
    "人福医药",
    "步长制药",
    "康恩贝",
    "仁和药业",
    "天士力",
    "以岭药业",
    "云南白药",
    "同仁堂",
    "太极集团",
)


def scale_drugs(count: int) -> Iterator[Drug]:
    rows = reference.read_csv("drugs.csv")
    for n in range(count):
        row = rows[n % len(rows)]
        maker = MANUFACTURERS[(n // len(rows)) % len(MANUFACTURERS)]
        yield reference.drug_from_row(
            row, code=f"SC{n + 1:06d}", trade_name=f"{row['trade_name'] or row['generic_name']}（{maker}）"
        )


def seed_scale(url: str, *, drugs: int, patients: int) -> dict[str, int]:
    """Add the scale set (idempotence is not attempted: run it once on a fresh or demo database)."""
    upgrade(url)
    db = Database.open(url, pool_size=1)
    today = utcnow().date()
    try:
        with db.write() as conn:
            drug_count = bulk_insert(conn, scale_drugs(drugs), chunk=5000)
        with db.write() as conn:
            people = generate_patients(
                patients,
                seed=11,
                today=today,
                year=today.year,
                start_number=500_000,
                id_prefix="scale-patient",
            )
            patient_count = bulk_insert(conn, people, chunk=5000)
    finally:
        db.dispose()
    return {"drug": drug_count, "patient": patient_count}
