"""The administration API against a real server process: an import over HTTP previewed and applied in one
audited batch that another PC pulls, single reference rows saved and retired as mutations, the audit log
browsed, searched and exported, and the roles (三员分立): the auditor reads the log and changes nothing,
roles that may not administer are refused, and no endpoint changes or deletes an audit entry."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import gzip
import io
import json
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from shared.errors import SuiteError
from shared.sync.transport import ApiTransport
from tests.reference_io.test_import import MAPPING, his_row, write_gb18030_csv
from tests.reference_io.test_rx_rules_import import tighter
from tests.support.api import ApiUser
from tests.support.server import ServerProcess


def upload(
    path: Path, *, mapping: str | None = MAPPING, dry_run: bool = True, **extra: Any
) -> dict[str, Any]:
    return {
        "filename": path.name,
        "content": base64.b64encode(path.read_bytes()).decode(),
        "mapping": mapping,
        "dry_run": dry_run,
        **extra,
    }


def live_drugs(user: ApiUser, cursor: int = 0) -> tuple[dict[str, dict[str, Any]], int]:
    changes, cursor = user.pull_all(cursor)
    drugs = {c["data"]["code"]: c["data"] for c in changes if c["kind"] == "drug"}
    return drugs, cursor


def audit_entries(user: ApiUser, **params: Any) -> list[dict[str, Any]]:
    response = user.http.get("/api/v1/admin/audit/entries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]  # type: ignore[no-any-return]


def test_an_import_over_http_is_previewed_then_applied_in_one_audited_batch_that_pcs_pull(
    server: ServerProcess, tmp_path: Path
) -> None:
    admin = ApiUser(server.url, "admin", device_id="it-office-pc")
    doctor = ApiUser(server.url, "doctor1")
    _, cursor = live_drugs(doctor)
    path = write_gb18030_csv(
        tmp_path / "药品目录.csv",
        [
            his_row("HIS-0001", "阿莫西林胶囊"),
            his_row("HIS-0002", "布洛芬缓释胶囊", price="十二元"),  # wrong type
            his_row("HIS-0003", "头孢克洛胶囊", route="XX"),  # unknown route code
            his_row("HIS-0001", "阿莫西林胶囊"),  # duplicate
            his_row("HIS-0004", "盐酸吗啡片", controlled="麻醉药品"),
            his_row("HIS-0005", "维生素C片", pack_qty="99999999999999"),  # out of range
        ],
    )
    preview = admin.http.post("/api/v1/admin/import/drug", json=upload(path))
    assert preview.status_code == 200, preview.text
    plan = preview.json()
    assert plan["applied"] is False and plan["dry_run"] is True
    assert plan["summary"]["added"] == 2 and plan["summary"]["refused"] == 4
    refused = {r["row"]: r for r in plan["sections"]["refused"]}
    assert set(refused) == {"3", "4", "5", "7"} and "pack_qty" in refused["7"]["detail"]
    assert (
        "price" in refused["3"]["detail"] and "应为数字" in refused["3"]["detail"]
    )  # in the caller's language
    assert "未知" in refused["4"]["detail"] and "XX" in refused["4"]["detail"]
    assert "重复" in refused["5"]["detail"] and "第 2 行" in refused["5"]["detail"]
    english = admin.http.post(
        "/api/v1/admin/import/drug", json=upload(path), headers={"Accept-Language": "en"}
    )
    reasons = {r["row"]: r["detail"] for r in english.json()["sections"]["refused"]}
    assert "valid decimal" in reasons["3"] and "unknown route code 'XX'" in reasons["4"]
    assert reasons["5"] == "duplicate code HIS-0001: already in row 2"
    assert {a["code"] for a in plan["sections"]["added"]} == {"HIS-0001", "HIS-0004"}
    assert "HIS-0001" not in live_drugs(doctor, cursor)[0]  # a preview applies nothing

    applied = admin.http.post("/api/v1/admin/import/drug", json=upload(path, dry_run=False)).json()
    assert applied["applied"] is True and applied["summary"]["added"] == 2
    drugs, cursor = live_drugs(doctor, cursor)
    assert (
        drugs["HIS-0004"]["controlled_class"] == "narcotic"
        and drugs["HIS-0001"]["generic_name"] == "阿莫西林胶囊"
    )

    again = admin.http.post("/api/v1/admin/import/drug", json=upload(path, dry_run=False)).json()
    assert again["applied"] is False and again["summary"]["added"] == 0 and again["summary"]["unchanged"] == 2

    entries = audit_entries(admin, action="reference.import")
    assert len(entries) == 1  # one batch, and nothing for the import that changed nothing
    entry = entries[0]
    assert entry["username"] == "admin" and entry["device_id"] == "it-office-pc"
    assert entry["target"] == "drug:药品目录.csv" and entry["detail"]["added"] == 2
    assert entry["detail"]["sha256"] == applied["sha256"]


def test_an_xlsx_import_over_http_retires_missing_codes_without_deleting_them(
    server: ServerProcess, tmp_path: Path
) -> None:
    admin = ApiUser(server.url, "admin")
    frequencies = admin.http.get("/api/v1/reference/frequency").json()
    assert len(frequencies) > 2
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["code", "name_zh", "name_en", "times_per_day"])
    kept = frequencies[0]
    sheet.append([kept["code"], kept["name_zh"], kept["name_en"], float(kept["times_per_day"])])
    sheet.append(["q5h-adm", "每5小时一次", "every 5 hours", 4.8])
    path = tmp_path / "频次.xlsx"
    workbook.save(path)

    body = upload(path, mapping=None, dry_run=False, retire_missing=True)
    plan = admin.http.post("/api/v1/admin/import/frequency", json=body).json()
    assert plan["applied"] is True
    assert plan["summary"]["added"] == 1 and plan["summary"]["retired"] == len(frequencies) - 1
    changes, _ = admin.pull_all()
    rows = {c["data"]["code"]: c["data"] for c in changes if c["kind"] == "frequency"}
    retired = [r for r in rows.values() if r["voided"]]
    assert len(retired) == len(frequencies) - 1  # still there, readable by old prescriptions
    assert all("频次.xlsx" in r["void_reason"] for r in retired)


def test_a_bad_upload_gets_a_clear_422_and_changes_nothing(server: ServerProcess, tmp_path: Path) -> None:
    admin = ApiUser(server.url, "admin")
    exe = tmp_path / "drugs.exe"
    exe.write_bytes(b"MZ")
    response = admin.http.post("/api/v1/admin/import/drug", json=upload(exe))
    assert response.status_code == 422 and response.json()["message"].startswith(
        "不是可读取的 CSV 或 Excel 文件："
    )
    path = write_gb18030_csv(tmp_path / "d.csv", [his_row("HIS-1", "阿莫西林胶囊")])
    bad_mapping = admin.http.post(
        "/api/v1/admin/import/drug", json=upload(path, mapping="[columns]\ncode = ")
    )
    assert bad_mapping.status_code == 422 and "TOML" in bad_mapping.json()["message"]
    wrong_column = admin.http.post(
        "/api/v1/admin/import/drug", json=upload(path, mapping='[columns]\ncode = "编号"')
    )
    assert wrong_column.status_code == 422 and "编号" in wrong_column.json()["message"]
    assert wrong_column.json()["message"].startswith("列映射文件与数据文件不符：")
    english = admin.http.post(
        "/api/v1/admin/import/drug", json=upload(exe), headers={"Accept-Language": "en"}
    )
    assert english.json()["message"].startswith("Not a readable CSV or workbook file: drugs.exe")
    assert admin.http.post("/api/v1/admin/import/potion", json=upload(path)).status_code == 422
    # gzip keeps a 50,000-row CSV under the body limit; a small body claiming gigabytes is refused
    packed = upload(path)
    packed.update(content=base64.b64encode(gzip.compress(path.read_bytes())).decode(), gzip=True)
    assert admin.http.post("/api/v1/admin/import/drug", json=packed).json()["summary"]["added"] == 1
    squeeze = zlib.compressobj(wbits=31)
    zeros = bytes(2**20)
    bomb = b"".join(squeeze.compress(zeros) for _ in range(220)) + squeeze.flush()
    packed.update(content=base64.b64encode(bomb).decode())
    refused = admin.http.post("/api/v1/admin/import/drug", json=packed)
    assert refused.status_code == 422 and refused.json()["code"] == "too_large"
    assert (
        admin.http.post("/api/v1/admin/import/drug", json={**packed, "content": "bm90IGd6aXA="}).status_code
        == 422
    )


def test_one_reference_row_is_saved_changed_and_retired_as_mutations_every_pc_pulls(
    server: ServerProcess,
) -> None:
    admin = ApiUser(server.url, "admin")
    doctor = ApiUser(server.url, "doctor1")
    _, cursor = live_drugs(doctor)
    row = {
        "code": "ADM-001",
        "generic_name": "对乙酰氨基酚片",
        "spec": "0.5g×12片",
        "form": "片剂",
        "pack_unit": "盒",
        "pack_qty": "12",
        "min_unit": "片",
        "dose_per_min_unit": "0.5",
        "dose_unit": "g",
        "default_dose": "0.5",
        "default_route": "po",
        "default_frequency": "tid",
        "price": "8.80",
    }
    created = admin.push_one("reference.save", {"kind": "drug", "fields": row})
    assert created["status"] == "applied", created
    drugs, cursor = live_drugs(doctor, cursor)
    assert drugs["ADM-001"]["pinyin"] == "dyxajfp" and Decimal(drugs["ADM-001"]["price"]) == Decimal("8.80")

    changed = admin.push_one(
        "reference.save", {"kind": "drug", "fields": {"code": "ADM-001", "price": "9.50"}}
    )
    assert changed["status"] == "applied"
    drugs, cursor = live_drugs(doctor, cursor)
    assert Decimal(drugs["ADM-001"]["price"]) == Decimal("9.50") and drugs["ADM-001"]["version"] == 2

    # the import's own rule refuses a bad row, with the same reason
    bad = admin.push_one(
        "reference.save", {"kind": "drug", "fields": {**row, "code": "ADM-002", "default_route": "XX"}}
    )
    assert bad["status"] == "rejected" and "XX" in bad["message"] and "ADM-002" in bad["message"]

    # a number the server's columns cannot hold is refused at the edge, not by the database
    huge = admin.push_one(
        "reference.save", {"kind": "drug", "fields": {"code": "ADM-001", "price": "12345678901"}}
    )
    assert huge["status"] == "rejected" and "超出范围" in huge["message"], huge
    retired = admin.push_one("reference.retire", {"kind": "drug", "code": "ADM-001", "reason": "停产"})
    assert retired["status"] == "applied"
    drugs, cursor = live_drugs(doctor, cursor)
    assert drugs["ADM-001"]["voided"] is True and drugs["ADM-001"]["void_reason"] == "停产"

    # a room names its department and campus by code; an unknown department is refused
    room = {
        "code": "R-901",
        "name": "9楼1诊室",
        "name_en": "Room 901",
        "campus_id": "MAIN",
        "department_id": "NOPE",
    }
    refused = admin.push_one("reference.save", {"kind": "room", "fields": room})
    assert refused["status"] == "rejected" and "NOPE" in refused["message"]

    saves = audit_entries(admin, action="mutation.reference.", username="admin")
    assert [e["action"] for e in saves].count("mutation.reference.save") == 5  # refused ones too
    assert [e["action"] for e in saves].count("mutation.reference.retire") == 1


def test_roles_that_may_not_administer_are_refused(server: ServerProcess, tmp_path: Path) -> None:
    path = write_gb18030_csv(tmp_path / "d.csv", [his_row("HIS-1", "阿莫西林胶囊")])
    for username in ("doctor1", "pharmacist1", "nurse1", "security", "auditor"):
        user = ApiUser(server.url, username)
        response = user.http.post("/api/v1/admin/import/drug", json=upload(path))
        assert response.status_code == 403, (username, response.text)
        assert user.http.get("/api/v1/admin/clients").status_code == 403
        if username != "auditor":  # the security administrator unlocks accounts, reads no audit log
            assert user.http.get("/api/v1/admin/audit/entries").status_code == 403
            assert user.http.get("/api/v1/admin/audit/export.csv").status_code == 403
        save = user.envelope("reference.save", {"kind": "route", "fields": {"code": "x", "name_zh": "某"}})
        pushed = user.push(save)
        assert pushed.status_code == 403, (username, pushed.text)  # refused whole, or the mutation refused
        if pushed.json()["detail"] is not None:
            assert pushed.json()["detail"]["outcomes"][0]["status"] == "rejected", (username, pushed.text)


def test_the_auditor_reads_searches_and_exports_the_log_and_changes_nothing(server: ServerProcess) -> None:
    admin = ApiUser(server.url, "admin", device_id="it-office-pc")
    admin.push_one("reference.save", {"kind": "route", "fields": {"code": "neb", "name_zh": "雾化吸入"}})
    ApiUser(server.url, "nurse1")
    auditor = ApiUser(server.url, "auditor")
    assert auditor.staff["roles"] == ["auditor"]

    first = auditor.http.get("/api/v1/admin/audit/entries", params={"limit": 2}).json()
    assert len(first["entries"]) == 2 and first["entries"][0]["id"] > first["entries"][1]["id"]
    second = auditor.http.get(
        "/api/v1/admin/audit/entries", params={"limit": 2, "before": first["next_before"]}
    ).json()
    assert second["entries"][0]["id"] < first["entries"][1]["id"]

    by_device = audit_entries(auditor, device_id="it-office-pc")
    assert {e["action"] for e in by_device} == {"auth.login", "mutation.reference.save"}
    nurse_logins = audit_entries(auditor, username="nurse1", action="auth.login")
    assert len(nurse_logins) == 1
    since = nurse_logins[0]["at"]
    assert all(e["at"] >= since for e in audit_entries(auditor, since=since))
    assert audit_entries(auditor, until="2000-01-01T00:00:00") == []

    export = auditor.http.get("/api/v1/admin/audit/export.csv", params={"device_id": "it-office-pc"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert {r["action"] for r in rows} == {"auth.login", "mutation.reference.save"}
    assert audit_entries(auditor, action="audit.export")[0]["username"] == "auditor"  # the export is logged

    # changes nothing: no push, no import, no admin data
    refused = auditor.push(
        auditor.envelope("reference.save", {"kind": "route", "fields": {"code": "y", "name_zh": "某"}})
    )
    assert refused.status_code == 403
    assert auditor.http.get("/api/v1/admin/audit/verify").json()["ok"] is True
    assert auditor.http.post("/api/v1/auth/logout").status_code == 204


def test_no_endpoint_changes_or_deletes_an_audit_entry(server: ServerProcess) -> None:
    admin = ApiUser(server.url, "admin")
    entry = audit_entries(admin, limit=1)[0]
    paths = httpx.get(f"{server.url}/openapi.json").json()["paths"]
    audit_paths = {p: set(ops) for p, ops in paths.items() if "audit" in p}
    assert audit_paths and all(ops == {"get"} for ops in audit_paths.values()), audit_paths
    writing = {p for p, ops in paths.items() if {"put", "patch", "delete"} & set(ops)}
    assert not any("audit" in p for p in writing)
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for path in ("/api/v1/admin/audit/entries", f"/api/v1/admin/audit/entries/{entry['id']}"):
            response = admin.http.request(method, path, json={"outcome": "ok"})
            assert response.status_code in (404, 405), (method, path, response.status_code)
    assert admin.http.get("/api/v1/admin/audit/verify").json()["ok"] is True
    again = audit_entries(admin, before=entry["id"] + 1, limit=1)[0]
    assert again == entry


def test_two_administrators_editing_one_row_the_later_edit_made_on_an_old_version_is_refused_with_the_servers_row(
    server: ServerProcess,
) -> None:
    first = ApiUser(server.url, "admin")
    second = ApiUser(server.url, "admin")
    doctor = ApiUser(server.url, "doctor1")  # a PC that is offline meanwhile: it pulls only at the end
    _, cursor = doctor.pull_all()
    route = {"code": "neb2", "name_zh": "雾化"}
    assert first.push_one("reference.save", {"kind": "route", "fields": route})["status"] == "applied"
    ok = first.push_one(
        "reference.save",
        {"kind": "route", "fields": {"code": "neb2", "name_en": "nebulised"}},
        base_version=1,
    )
    assert ok["status"] == "applied"
    late = second.push_one(
        "reference.save", {"kind": "route", "fields": {"code": "neb2", "name_zh": "喷雾"}}, base_version=1
    )
    assert late["status"] == "rejected" and late["code"] == "version_conflict"
    assert late["detail"]["server_state"]["name_en"] == "nebulised"
    changes, _ = doctor.pull_all(cursor)  # back online: the latest version, once
    rows = [c["data"] for c in changes if c["kind"] == "route" and c["data"]["code"] == "neb2"]
    assert len(rows) == 1 and rows[0]["version"] == 2 and rows[0]["name_zh"] == "雾化"


def test_the_audit_csv_streams_to_a_file_and_a_refused_download_leaves_none(
    server: ServerProcess, tmp_path: Path
) -> None:
    auditor = ApiUser(server.url, "auditor")
    doctor = ApiUser(server.url, "doctor1")
    transport = ApiTransport(server.url)
    try:
        transport.set_token(auditor.token)
        target = transport.download(
            "/admin/audit/export.csv", tmp_path / "audit.csv", params={"action": "auth.login"}
        )
        rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
        assert {r["username"] for r in rows} == {"auditor", "doctor1"}
        transport.set_token(doctor.token)
        with pytest.raises(SuiteError) as refused:
            transport.download("/admin/audit/export.csv", tmp_path / "refused.csv")
        assert refused.value.code == "forbidden" and refused.value.message
        assert not (tmp_path / "refused.csv").exists() and not (tmp_path / "refused.csv.part").exists()
    finally:
        transport.close()


def test_rx_rules_over_http_are_previewed_as_a_field_diff_then_applied_once_as_one_dated_version(
    server: ServerProcess, tmp_path: Path
) -> None:
    """``/admin/import/rx_rules`` runs ``clinic import rx_rules``'s service: the preview is the per-field
    diff, applying adds one dated version and one audit entry that PCs pull, the same file twice adds
    nothing, a bad file is refused naming the field, and only the administrator may."""
    admin = ApiUser(server.url, "admin", device_id="it-office-pc")
    doctor = ApiUser(server.url, "doctor1")
    changes, cursor = doctor.pull_all(0)
    assert len([c for c in changes if c["kind"] == "rx_rule_set"]) == 1  # the demo's shipped version
    source = tighter(tmp_path)

    preview = admin.http.post("/api/v1/admin/import/rx_rules", json=upload(source, mapping=None))
    assert preview.status_code == 200, preview.text
    plan = preview.json()
    assert plan["applied"] is False and plan["summary"]["changed"] == 2
    assert "ordinary.max_days 7 → 5" in plan["changes"] and "max_drugs_per_rx 5 → 4" in plan["changes"]
    assert {"row": "", "code": "ordinary.max_days", "detail": "7 → 5"} in plan["sections"]["changed"]
    assert not [c for c in doctor.pull_all(cursor)[0] if c["kind"] == "rx_rule_set"]  # nothing applied

    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    body = upload(source, mapping=None, dry_run=False, effective_from=later.isoformat())
    applied = admin.http.post("/api/v1/admin/import/rx_rules", json=body)
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    assert dt.datetime.fromisoformat(applied.json()["effective_from"]) == later
    pulled = [c["data"] for c in doctor.pull_all(cursor)[0] if c["kind"] == "rx_rule_set"]
    assert len(pulled) == 1 and pulled[0]["rules"]["types"]["ordinary"]["max_days"] == 5
    assert dt.datetime.fromisoformat(pulled[0]["effective_from"]) == later

    again = admin.http.post("/api/v1/admin/import/rx_rules", json=body).json()
    assert again["applied"] is False and again["changes"] == [] and again["summary"]["unchanged"] == 1
    entries = audit_entries(admin, action="reference.import")
    assert len(entries) == 1  # one version, one entry; nothing for the import that changed nothing
    entry = entries[0]
    assert entry["target"] == "rx_rules:rules.json" and entry["device_id"] == "it-office-pc"
    assert entry["username"] == "admin" and "ordinary.max_days 7 → 5" in entry["detail"]["changes"]

    data = json.loads(source.read_text(encoding="utf-8"))
    data["types"]["ordinary"]["max_days"] = "seven"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    refused = admin.http.post("/api/v1/admin/import/rx_rules", json=upload(bad, mapping=None, dry_run=False))
    assert refused.status_code == 422 and "types.ordinary.max_days" in refused.text, refused.text
    bad.write_text("ordinary,7\n", encoding="utf-8")
    refused = admin.http.post("/api/v1/admin/import/rx_rules", json=upload(bad, mapping=None))
    assert refused.status_code == 422 and "not a JSON rule table" in refused.text, refused.text
    csv_file = write_gb18030_csv(tmp_path / "rules.csv", [his_row("HIS-1", "阿莫西林胶囊")])
    assert admin.http.post("/api/v1/admin/import/rx_rules", json=upload(csv_file)).status_code == 422
    past = upload(source, mapping=None, dry_run=False, effective_from="2020-01-01T00:00:00+08:00")
    refused = admin.http.post("/api/v1/admin/import/rx_rules", json=past)
    assert refused.status_code == 400 and "has passed" in refused.text, refused.text
    assert len(audit_entries(admin, action="reference.import")) == 1

    for username in ("doctor1", "pharmacist1", "nurse1", "security", "auditor"):
        user = ApiUser(server.url, username)
        response = user.http.post("/api/v1/admin/import/rx_rules", json=upload(source, mapping=None))
        assert response.status_code == 403, (username, response.text)
