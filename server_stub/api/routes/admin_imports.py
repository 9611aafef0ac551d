"""``/api/v1/admin/import/{kind}``: run ``clinic import`` over HTTP for the administration window. The file
comes in the body (base64, with its name, which picks CSV or workbook), with the mapping file's text;
the server plans it with the same code as the command and answers the plan, and, unless ``dry_run``,
applies it in one audited batch that every PC then pulls. Admin role only: this changes data.

``rx_rules`` is the prescription rule table, one ``.json`` file (``clinic import rx_rules``'s form): the
plan is its per-field diff against the rules in effect at ``effective_from`` (default: now), listed as
``changed`` rows (``code`` the field, ``detail`` ``7 → 5``); applying adds one dated version with one
audit entry, and a file equal to the rules in effect then changes nothing."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import tempfile
import zlib
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from server_stub.api.deps import AdminDep, DbDep, LangDep, SettingsDep
from server_stub.services.notifier import FeedNotifier
from server_stub.services.reference_import import import_file, plan_lines
from server_stub.services.rx_rules_import import RulesImport, import_rules
from shared.errors import ValidationFailed
from shared.protocol.models import ErrorBody, WireModel
from shared.reference_io.messages import file_problem
from shared.reference_io.plan import ColumnMapping

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 400: {"model": ErrorBody}},
)

ImportKindName = Literal[
    "campus",
    "department",
    "room",
    "pharmacy",
    "frequency",
    "route",
    "drug",
    "diagnosis",
    "exam_item",
    "staff",
    "rx_rules",
]
RX_RULES = "rx_rules"
_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xls", ".ods"}


class ImportRequest(WireModel):
    filename: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, description="the file's bytes, base64 (gzip-compressed first if gzip)")
    gzip: bool = Field(
        default=False, description="content is gzip-compressed (a 50,000-row CSV fits the body limit)"
    )
    mapping: str | None = Field(default=None, max_length=200_000, description="the TOML mapping file's text")
    dry_run: bool = True
    retire_missing: bool = False
    sheet: str | None = Field(default=None, max_length=100)
    code_set: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="diagnosis: the ICD-10 code set the rows go into",
    )
    show: int = Field(default=500, ge=0, le=100_000, description="rows listed per section (0: all)")
    effective_from: dt.datetime | None = Field(
        default=None, description="rx_rules: the moment the rules apply from (default: now; not past)"
    )


def _safe_name(filename: str, kind: str) -> str:
    name = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", "_", Path(filename).name).strip(" .") or "upload"
    if kind == RX_RULES:
        if Path(name).suffix.lower() != ".json":
            raise ValidationFailed(f"{name}: not a JSON rule table file (.json)", code="bad_file")
    elif Path(name).suffix.lower() not in _SUFFIXES:
        raise ValidationFailed(
            f"{name}: not a CSV or workbook file (.csv, .xlsx, .xls, .ods)", code="bad_file"
        )
    return name


# The largest file an import reads once uncompressed: far above a 50,000-row drug list (~10 MB), far
# below what would hurt the server (a small gzip body can claim gigabytes).
MAX_FILE_BYTES = 200 * 1024 * 1024


def _gunzip(data: bytes, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_FILE_BYTES + 1)
    except zlib.error as error:
        raise ValidationFailed(f"{name}: the content is not gzip data ({error})", code="bad_file") from error
    if len(out) > MAX_FILE_BYTES or inflater.unconsumed_tail:
        raise ValidationFailed(
            f"{name}: larger than {MAX_FILE_BYTES // 2**20} MB uncompressed", code="too_large"
        )
    return out


def _unpack(body: ImportRequest, kind: str) -> tuple[str, bytes, ColumnMapping | None]:
    """The file's safe name, its bytes and the mapping, or ``ValidationFailed`` naming what is wrong."""
    name = _safe_name(body.filename, kind)
    try:
        raw = base64.b64decode(body.content, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed(f"{name}: the content is not base64", code="bad_file") from error
    if body.gzip:
        raw = _gunzip(raw, name)
    if body.effective_from is not None and body.effective_from.tzinfo is None:
        raise ValidationFailed("effective_from: give the time with its UTC offset", code="invalid_input")
    mapping = ColumnMapping.parse(body.mapping, "mapping") if body.mapping and kind != RX_RULES else None
    return name, raw, mapping


def _rules_answer(run: RulesImport, name: str, dry_run: bool) -> dict[str, Any]:
    """A rule table's plan in the answer's shape: each changed field a ``changed`` row."""
    rows = []
    for line in run.changes:
        field_name, _, change = line.partition(" ")
        rows.append({"row": "", "code": field_name, "detail": change})
    return {
        "kind": RX_RULES,
        "file": name,
        "sha256": run.file_sha256,
        "dry_run": dry_run,
        "applied": run.applied,
        "summary": {
            "added": 0,
            "changed": len(run.changes),
            "retired": 0,
            "unchanged": 0 if run.changes else 1,
            "refused": 0,
        },
        "sections": {"changed": rows},
        "changes": run.changes,
        "effective_from": run.effective_from.isoformat(),
        "setup_codes": [],
        "setup_codes_expire_at": None,
    }


@router.post("/import/{kind}")
async def run_import(kind: ImportKindName, body: ImportRequest, principal: AdminDep, db: DbDep,
                     request: Request, lang: LangDep, settings: SettingsDep) -> dict[str, Any]:  # fmt: skip
    """The plan (``summary`` and per section the rows: ``row``, ``code``, ``detail``), and whether it was
    applied. Refused rows never stop the other rows: they are listed with their row number and reason."""
    try:
        name, raw, mapping = _unpack(body, kind)
    except ValidationFailed as error:
        raise ValidationFailed(file_problem(error.code, error.message, lang), code=error.code) from error

    def work() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="clinic-import-") as folder:
            path = Path(folder) / name  # the file's own name: the retire reason and the audit entry name it
            path.write_bytes(raw)
            if kind == RX_RULES:  # the same service as ``clinic import rx_rules``
                rules = import_rules(
                    db,
                    path,
                    effective_from=body.effective_from,
                    dry_run=body.dry_run,
                    username=principal.staff.username,
                    staff_id=principal.staff.id,
                    device_id=principal.device_id,
                )
                return _rules_answer(rules, name, body.dry_run)
            run = import_file(
                db,
                kind,
                path,
                mapping=mapping,
                retire_missing=body.retire_missing,
                dry_run=body.dry_run,
                username=principal.staff.username,
                staff_id=principal.staff.id,
                device_id=principal.device_id,
                sheet=body.sheet,
                lang=lang,
                code_set=body.code_set,
                setup_code_ttl=dt.timedelta(hours=settings.setup_code_hours),
            )
        limit = body.show or None
        return {
            "kind": kind,
            "file": name,
            "sha256": run.file_sha256,
            "dry_run": body.dry_run,
            "applied": run.applied,
            "summary": run.plan.summary(),
            "sections": {
                section: [{"row": row, "code": code, "detail": what} for row, code, what in lines[:limit]]
                for section, lines in plan_lines(run.plan).items()
            },
            # staff: each new person's one-time setup code, in this answer only (the server keeps hashes)
            "setup_codes": [{"username": u, "code": c} for u, c in sorted(run.setup_codes.items())],
            "setup_codes_expire_at": (
                run.setup_codes_expire_at.isoformat() if run.setup_codes_expire_at else None
            ),
        }

    try:
        answer = await run_in_threadpool(work)
    except ValidationFailed as error:
        raise ValidationFailed(file_problem(error.code, error.message, lang), code=error.code) from error
    if answer["applied"]:
        notifier: FeedNotifier = request.app.state.notifier
        await notifier.refresh()  # online PCs' long-polls see the new rows now, not at the next poll
    return answer
