"""Stock and sales exports through the suite's report documents (``shared.printing.stock_report``).

Runs on the database thread (it reads the store and writes a file), never on the GUI thread.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from shared.domain.pharmacy_queries import SalesReport, StockOverview
from shared.printing.stock_report import (
    render_sales_pdf,
    render_stock_pdf,
    write_sales_xlsx,
    write_stock_xlsx,
)


def export_stock(
    path: Path, fmt: str, *, overview: StockOverview, pharmacy: str, now: dt.datetime, by: str, lang: str
) -> Path:
    if fmt == "xlsx":
        return write_stock_xlsx(overview, path, pharmacy_name=pharmacy, lang=lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        render_stock_pdf(overview, pharmacy_name=pharmacy, printed_at=now, printed_by=by, lang=lang)
    )
    return path


def export_sales(
    path: Path, fmt: str, *, report: SalesReport, pharmacy: str, now: dt.datetime, by: str, lang: str
) -> Path:
    if fmt == "xlsx":
        return write_sales_xlsx(report, path, pharmacy_name=pharmacy, lang=lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        render_sales_pdf(report, pharmacy_name=pharmacy, printed_at=now, printed_by=by, lang=lang)
    )
    return path
