"""Read the tables hospitals export from their HIS: CSV (UTF-8, UTF-8 with BOM or GB18030, as Excel
writes it on a Chinese Windows) and workbooks (xlsx, xls, ods), as numbered rows of text cells keyed by
the header row."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from shared.errors import ValidationFailed

# Tried in this order: a file that is valid UTF-8 is read as UTF-8; anything else a Chinese Excel or HIS
# wrote is GB18030 (a superset of GBK and GB2312).
ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class SourceRow:
    """One data row: ``number`` is the row as a spreadsheet shows it (the header is row 1)."""

    number: int
    cells: dict[str, str]


@dataclass(frozen=True)
class Table:
    path: Path
    headers: list[str]
    rows: list[SourceRow]
    encoding: str  # the workbook's format ("xlsx") for workbooks


def read_table(path: Path, *, sheet: str | None = None) -> Table:
    """The header row and data rows of a CSV, xlsx, xls or ods file; blank rows skipped, cells stripped."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        return _read_workbook(path, sheet)
    if suffix in (".csv", ".txt", ".tsv"):
        return _read_csv(path)
    raise ValidationFailed(
        f"{path.name}: only .csv, .xlsx, .xls and .ods files can be imported", code="bad_file"
    )


def _read_csv(path: Path) -> Table:
    raw = path.read_bytes()
    for encoding in ENCODINGS:
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes every byte sequence that is not ill-formed
        raise ValidationFailed(f"{path.name}: not UTF-8 or GB18030 text", code="bad_encoding")
    sample = text[:8192]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValidationFailed(f"{path.name}: the file is empty", code="empty_file") from None
    _check_headers(path, headers)
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        rows.append(SourceRow(number, _cells(headers, values)))
    return Table(path, headers, rows, encoding.replace("-sig", ""))


def _read_workbook(path: Path, sheet: str | None) -> Table:
    # calamine (Rust) reads a 50,000-row workbook in ~1 s where openpyxl took ~10 s, and reads the .xls
    # files older HIS versions still export.
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as error:  # noqa: BLE001 - calamine raises its own error types for damaged files
        raise ValidationFailed(f"{path.name}: not a readable workbook ({error})", code="bad_file") from error
    if sheet is not None and sheet not in workbook.sheet_names:
        raise ValidationFailed(
            f"{path.name}: no sheet named {sheet!r} (sheets: {', '.join(workbook.sheet_names)})",
            code="bad_sheet",
        )
    worksheet = workbook.get_sheet_by_name(sheet) if sheet else workbook.get_sheet_by_index(0)
    values = iter(worksheet.to_python(skip_empty_area=False))
    try:
        headers = [_text(h) for h in next(values)]
    except StopIteration:
        raise ValidationFailed(f"{path.name}: the sheet is empty", code="empty_file") from None
    _check_headers(path, headers)
    rows = []
    for number, row in enumerate(values, start=2):
        texts = [_text(v) for v in row]
        if any(texts):
            rows.append(SourceRow(number, _cells(headers, texts)))
    return Table(path, headers, rows, path.suffix.lower().lstrip("."))


def _text(value: object) -> str:
    """A cell as the text a person sees: integers without '.0', dates as ISO, decimals unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(Decimal(repr(value)))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _cells(headers: list[str], values: list[str]) -> dict[str, str]:
    return {
        header: (values[i].strip() if i < len(values) else "") for i, header in enumerate(headers) if header
    }


def _check_headers(path: Path, headers: list[str]) -> None:
    seen: set[str] = set()
    for header in headers:
        if header and header in seen:
            raise ValidationFailed(f"{path.name}: the column {header!r} appears twice", code="bad_header")
        seen.add(header)
    if not seen - {""}:
        raise ValidationFailed(f"{path.name}: the first row has no column names", code="bad_header")
