"""ICD-10 code sets side by side and dated drug prices, against a real server on loopback: two sets
imported from a real CSV and a real xlsx, the site's chosen set switched by an administrator and a
doctor's PC search following it after a pull; a price change dated a few seconds ahead, a prescription
written before it keeping the old price and one after getting the new one, on the PC and on the server
alike; the old prescription still printing its drug, spec, price and diagnosis (with its code set) after
the drug is retired and the site switched sets; roles that may not administer refused."""

from __future__ import annotations

import base64
import datetime as dt
import io
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from pypdf import PdfReader

from shared.domain.entities import Diagnosis, Drug, Patient, Prescription
from shared.domain.prescribing import DiagnosisFacts, PrescriptionDraft
from shared.printing.prescription import render_prescription
from shared.sync import SyncState
from tests.clinical.support import create_args, draft, drug, first_drugs, line
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.sync.support import make_client
from workstation.documents import prescription_print

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CLINICAL = "国家临床版2.0"
INSURANCE = "医保版2.0"


def clinical_csv() -> bytes:
    rows = [
        "code,name_zh,name_en",
        "J06.900,急性上呼吸道感染,Acute upper respiratory infection",
        "J18.900,肺炎,Pneumonia",
        "K29.700,胃炎,Gastritis",
    ]
    return ("\r\n".join(rows) + "\r\n").encode("gb18030")  # as Excel saves it on a Chinese Windows


def insurance_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "name_zh", "name_en"])
    sheet.append(["J06.900x001", "急性上呼吸道感染（医保）", "Acute URI (insurance)"])
    sheet.append(["J06.900", "急性上呼吸道感染", "Acute upper respiratory infection"])
    sheet.append(["I10.x00", "原发性高血压", "Essential hypertension"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def import_into(admin: ApiUser, filename: str, content: bytes, code_set: str) -> dict[str, Any]:
    body = {
        "filename": filename,
        "content": base64.b64encode(content).decode("ascii"),
        "dry_run": False,
        "code_set": code_set,
    }
    answer = admin.http.post("/api/v1/admin/import/diagnosis", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def server_rows(user: ApiUser, kind: str) -> list[dict[str, Any]]:
    changes, _ = user.pull_all()
    latest: dict[str, dict[str, Any]] = {}
    for change in changes:
        if change["kind"] == kind:
            latest[change["data"]["id"]] = change["data"]
    return list(latest.values())


def test_two_code_sets_live_side_by_side_and_the_doctors_search_follows_the_chosen_one(
    any_server: ServerProcess, tmp_path: Path
) -> None:
    admin = ApiUser(any_server.url, "admin")
    first = import_into(admin, "临床版.csv", clinical_csv(), CLINICAL)
    second = import_into(admin, "医保版.xlsx", insurance_xlsx(), INSURANCE)
    assert first["summary"]["added"] == 3 and second["summary"]["added"] == 3
    # the same file again changes nothing, and one set's import leaves the other (and the demo set) alone
    again = import_into(admin, "临床版.csv", clinical_csv(), CLINICAL)
    assert again["summary"] == {"added": 0, "changed": 0, "retired": 0, "unchanged": 3, "refused": 0}
    rows = server_rows(admin, "diagnosis")
    by_set: dict[str, int] = {}
    for row in rows:
        by_set[row["code_set"]] = by_set.get(row["code_set"], 0) + 1
    assert by_set[CLINICAL] == 3 and by_set[INSURANCE] == 3 and by_set["ICD-10"] > 500
    assert {r["name_zh"] for r in rows if r["code"] == "J06.900"} == {"急性上呼吸道感染"}  # in both sets

    pc = make_client(tmp_path / "doctor.db", any_server.url, "doctor1")
    try:
        found = pc.store.search_diagnoses("J06", 50)
        assert found and {d.code_set for d in found} == {"ICD-10"}  # the demo site's chosen set

        # a doctor and the security administrator may not choose; an empty set cannot be chosen
        doctor = ApiUser(any_server.url, "doctor1")
        refused = doctor.push_one("reference.choose_code_set", {"code_set": INSURANCE})
        assert refused["status"] == "rejected", refused
        empty = admin.push_one("reference.choose_code_set", {"code_set": "无此版本"})
        assert empty["status"] == "rejected" and empty["code"] == "empty_code_set", empty

        chosen = admin.push_one("reference.choose_code_set", {"code_set": INSURANCE})
        assert chosen["status"] == "applied", chosen
        assert pc.sync().state is SyncState.ONLINE
        found = pc.store.search_diagnoses("J06", 50)
        assert {d.code for d in found} == {"J06.900", "J06.900x001"}
        assert {d.code_set for d in found} == {INSURANCE}
        assert [d.name_zh for d in pc.store.search_diagnoses("gxy", 5)] == ["原发性高血压"]
        # every set stays on the PC: old records read their codes whatever the site chose
        assert len(pc.store.find(Diagnosis, code="J06.900")) == 2
    finally:
        pc.close()


def test_a_dated_price_change_leaves_earlier_prescriptions_at_the_old_price_and_they_still_print(
    any_server: ServerProcess, tmp_path: Path
) -> None:
    admin = ApiUser(any_server.url, "admin")
    name = first_drugs(1)[0]
    seeded = drug(name)
    old = seeded.price
    new = old + Decimal("10")
    # the first prescription is written before the change is even set, so a slow PC start on a busy
    # machine cannot push it past the change's moment
    written_before = dt.datetime.now(dt.UTC)
    effective = written_before + dt.timedelta(seconds=3)

    doctor = ApiUser(any_server.url, "doctor1")
    refused = doctor.push_one("reference.set_price", {"code": seeded.code, "price": str(new)})
    assert refused["status"] == "rejected", refused
    past = admin.push_one(
        "reference.set_price",
        {
            "code": seeded.code,
            "price": "1",
            "effective_from": (effective - dt.timedelta(hours=1)).isoformat(),
        },
    )
    assert past["status"] == "rejected" and past["code"] == "price_in_past", past
    applied = admin.push_one(
        "reference.set_price",
        {"code": seeded.code, "price": str(new), "effective_from": effective.isoformat()},
    )
    assert applied["status"] == "applied", applied

    pc = make_client(tmp_path / "doctor.db", any_server.url, "doctor1")
    try:
        assert pc.sync().state is SyncState.ONLINE
        local_drug = pc.store.get(Drug, seeded.id)
        assert local_drug is not None and local_drug.price_changes[-1].price == new
        patient = next(p for p in pc.store.all(Patient) if not p.allergies)
        session = pc.store.session()
        assert session is not None
        me = session.staff
        icd = DiagnosisFacts(code="J06.9", name="急性上呼吸道感染", code_set="ICD-10")

        def write(written_at: dt.datetime) -> PrescriptionDraft:
            known = [rx.number for rx in pc.store.all(Prescription)]
            rx = draft(patient, me, [line(name)], device_id=pc.store.device_id, existing=known,
                       diagnoses_=[icd], written_at=written_at)  # fmt: skip
            pc.store.record("rx.create", create_args(rx))
            return rx

        before = write(written_before)
        while dt.datetime.now(dt.UTC) <= effective:
            time.sleep(0.2)
        after = write(dt.datetime.now(dt.UTC))  # its line carries the old price: the rule re-prices it

        def price_of(row: Prescription | dict[str, Any]) -> Decimal:
            lines = row.lines if isinstance(row, Prescription) else row["lines"]
            return Decimal(str(lines[0]["drug"]["price"]))

        local = {rx.id: pc.store.get(Prescription, rx.id) for rx in (before, after)}
        assert price_of(local[before.id]) == old and price_of(local[after.id]) == new  # type: ignore[arg-type]
        assert pc.sync().state is SyncState.ONLINE and pc.store.pending_count() == 0
        on_server = {r["id"]: r for r in server_rows(admin, "rx")}
        assert price_of(on_server[before.id]) == old and price_of(on_server[after.id]) == new
        quantity = on_server[before.id]["lines"][0]["quantity"]
        assert Decimal(on_server[before.id]["total_amount"]) == (old * quantity).quantize(Decimal("0.01"))

        # the drug is retired and the site switches code sets: the old prescription prints as written
        import_into(admin, "医保版.xlsx", insurance_xlsx(), INSURANCE)
        retire = {"kind": "drug", "code": seeded.code, "reason": "医院停止采购"}
        assert admin.push_one("reference.retire", retire)["status"] == "applied"
        assert admin.push_one("reference.choose_code_set", {"code_set": INSURANCE})["status"] == "applied"
        assert pc.sync().state is SyncState.ONLINE
        retired = pc.store.get(Drug, seeded.id)
        assert retired is not None and retired.voided
        offered = pc.store.search_diagnoses("J06.9", 20)
        assert {d.code_set for d in offered} == {INSURANCE} and "J06.9" not in {d.code for d in offered}
        old_rx = pc.store.get(Prescription, before.id)
        assert old_rx is not None
        pdf = render_prescription(prescription_print(pc.store, old_rx, reprint=True))
        path = tmp_path / "old_rx.pdf"
        path.write_bytes(pdf)
        text = "".join(page.extract_text() for page in PdfReader(path).pages)
        compact = text.replace(" ", "")
        amount = f"¥{(old * quantity).quantize(Decimal('0.01'))}"
        assert seeded.generic_name in compact and seeded.spec.replace(" ", "") in compact, text
        assert amount in compact, (amount, text)  # … and the old price, not the new one
        assert "急性上呼吸道感染（J06.9，ICD-10）" in compact, text  # the diagnosis with its code set
        assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is needed"
        out = SCREENSHOTS / "rx_retired_drug_old_price"
        subprocess.run(["pdftoppm", "-r", "90", "-png", "-singlefile", str(path), str(out)], check=True)
        assert out.with_suffix(".png").stat().st_size > 10_000
    finally:
        pc.close()


def test_the_import_endpoint_refuses_a_code_set_import_to_roles_that_do_not_administer(
    any_server: ServerProcess,
) -> None:
    body = {"filename": "x.csv", "content": base64.b64encode(clinical_csv()).decode(), "code_set": CLINICAL}
    for username in ("doctor1", "pharmacist1", "auditor"):
        user = ApiUser(any_server.url, username)
        answer = user.http.post("/api/v1/admin/import/diagnosis", json={**body, "dry_run": False})
        assert answer.status_code == 403, (username, answer.text)
