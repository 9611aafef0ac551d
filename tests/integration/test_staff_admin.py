"""Staff administered against a real server process: records saved and retired as mutations (bad input
refused with its reason), a staff list imported from CSV and xlsx (bad rows refused by row number, a
password column refused whole, twice changes nothing), a new person's first login with the one-time
setup code, and the security administrator's resets and unlock; every other role is refused (三员分立)."""

from __future__ import annotations

import base64
import csv
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from shared.security.signing import generate_keypair
from tests.clinical.support import PIN, register_args
from tests.support.api import DEMO_PASSWORD, ApiUser
from tests.support.server import ServerProcess

HEADER = ["username", "name", "roles", "title", "campus", "campuses", "department", "prescribing_rights",
          "controlled_rights", "active"]  # fmt: skip
GOOD = [
    [
        "wangfang",
        "王芳",
        "doctor",
        "主治医师",
        "MAIN",
        "",
        "MAIN-NK",
        "ordinary",
        "narcotic;psychotropic1",
        "1",
    ],
    ["lihua", "李华", "nurse", "护师", "EAST", "MAIN", "EAST-FZ", "", "", "1"],
]
BAD = [
    ["zhaolei", "赵磊", "doctor", "", "MAIN", "", "NOPE-01", "ordinary", "", "1"],  # unknown department
    ["wangfang", "王芳2", "doctor", "", "MAIN", "", "MAIN-NK", "", "", "1"],  # duplicate username
    ["sunli", "孙丽", "surgeon", "", "MAIN", "", "", "", "", "1"],  # unknown role
    ["qianwu", "钱五", "nurse", "", "MAIN", "", "", "", "narcotic", "1"],  # rights for a nurse
]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def run_import(user: ApiUser, path: Path, *, dry_run: bool) -> httpx.Response:
    body = {
        "filename": path.name,
        "content": base64.b64encode(path.read_bytes()).decode(),
        "dry_run": dry_run,
    }
    return user.http.post("/api/v1/admin/import/staff", json=body, headers={"Accept-Language": "en"})


def setup(server: ServerProcess, username: str, code: str, password: str, **extra: Any) -> httpx.Response:
    body = {
        "username": username,
        "setup_code": code,
        "new_password": password,
        "device_id": "pc-new-1",
        **extra,
    }
    return httpx.post(f"{server.url}/api/v1/auth/setup", json=body, headers={"Accept-Language": "en"})


def login(server: ServerProcess, username: str, password: str) -> httpx.Response:
    body = {"username": username, "password": password, "device_id": "pc-new-1"}
    return httpx.post(f"{server.url}/api/v1/auth/login", json=body)


def staff_list(user: ApiUser) -> dict[str, dict[str, Any]]:
    response = user.http.get("/api/v1/admin/staff")
    assert response.status_code == 200, response.text
    return {row["username"]: row for row in response.json()}


def test_staff_save_creates_changes_and_retires_a_person_and_refuses_bad_input(server: ServerProcess) -> None:
    admin = ApiUser(server.url, "admin")
    fields = {"username": "zhoumin", "name": "周敏", "roles": "doctor", "title": "住院医师", "campus": "MAIN",
              "department": "MAIN-NK", "prescribing_rights": "ordinary", "active": "1"}  # fmt: skip
    created = admin.push_one("staff.save", {"fields": fields, "new": True})
    assert created["status"] == "applied", created
    again = admin.push_one("staff.save", {"fields": fields, "new": True})
    assert (again["status"], again["code"]) == ("rejected", "duplicate_username")
    unknown_dept = admin.push_one(
        "staff.save", {"fields": {**fields, "username": "x1", "department": "NOPE"}}
    )
    assert unknown_dept["status"] == "rejected" and "NOPE" in unknown_dept["message"]
    unknown_campus = admin.push_one(
        "staff.save", {"fields": {**fields, "username": "x2", "campuses": "MARS"}}
    )
    assert unknown_campus["status"] == "rejected" and "MARS" in unknown_campus["message"]
    bad_role = admin.push_one("staff.save", {"fields": {**fields, "username": "x3", "roles": "doctor;chief"}})
    assert bad_role["status"] == "rejected" and "chief" in bad_role["message"]

    changed = admin.push_one(
        "staff.save", {"fields": {"username": "zhoumin", "controlled_rights": "narcotic", "title": "主治医师"}},
        base_version=1,
    )  # fmt: skip
    assert changed["status"] == "applied", changed
    row = staff_list(admin)["zhoumin"]
    assert (row["title"], row["controlled_rights"], row["department"]) == ("主治医师", "narcotic", "MAIN-NK")
    assert not row["has_password"] and not row["retired"]

    retired = admin.push_one("staff.retire", {"username": "zhoumin", "reason": "调离"}, base_version=2)
    assert retired["status"] == "applied", retired
    row = staff_list(admin)["zhoumin"]
    assert row["retired"] and row["active"] == "0"
    nurse = ApiUser(server.url, "nurse1")
    refused = nurse.push_one("staff.save", {"fields": {**fields, "username": "x4"}})
    assert refused["status"] == "rejected" and refused["code"] in ("forbidden", "permission_denied"), refused


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_staff_file_is_previewed_with_bad_rows_named_applied_once_and_new_people_set_up_their_password(
    server: ServerProcess, tmp_path: Path, suffix: str
) -> None:
    admin = ApiUser(server.url, "admin")
    write = write_csv if suffix == ".csv" else write_xlsx
    path = write(tmp_path / f"人员{suffix}", [*GOOD, *BAD])
    preview = run_import(admin, path, dry_run=True)
    assert preview.status_code == 200, preview.text
    plan = preview.json()
    assert plan["summary"]["added"] == 2 and plan["summary"]["refused"] == 4
    refused = {r["row"]: r["detail"] for r in plan["sections"]["refused"]}
    assert "NOPE-01" in refused["4"] and "department" in refused["4"]
    assert "duplicate username wangfang" in refused["5"] and "row 2" in refused["5"]
    assert "surgeon" in refused["6"]
    assert "doctors only" in refused["7"]
    assert plan["setup_codes"] == [] and "wangfang" not in staff_list(admin)

    applied = run_import(admin, path, dry_run=False).json()
    assert applied["applied"] and applied["summary"]["added"] == 2
    codes = {c["username"]: c["code"] for c in applied["setup_codes"]}
    assert set(codes) == {"wangfang", "lihua"} and applied["setup_codes_expire_at"]
    people = staff_list(admin)
    assert people["wangfang"]["controlled_rights"] == "narcotic;psychotropic1"
    assert people["lihua"]["campuses"] == "MAIN" and people["lihua"]["setup_code_expires_at"]
    twice = run_import(admin, path, dry_run=False).json()
    assert not twice["applied"] and twice["summary"]["unchanged"] == 2 and twice["setup_codes"] == []

    # the code is not a password, and a weak password uses nothing up
    assert login(server, "wangfang", codes["wangfang"]).status_code == 401
    weak = setup(server, "wangfang", codes["wangfang"], "12345678")
    assert weak.status_code == 422 and weak.json()["code"] == "weak_password"
    wrong = setup(server, "wangfang", "AAAA-BBBB-CCCC", "Wang-fang-2026")
    assert wrong.status_code == 401 and wrong.json()["code"] == "setup_failed"
    done = setup(server, "wangfang", codes["wangfang"].lower().replace("-", " "), "Wf-clinic-2026")
    assert done.status_code == 200, done.text
    assert done.json()["staff"]["username"] == "wangfang" and done.json()["token"]
    used = setup(server, "wangfang", codes["wangfang"], "Another-2026x")
    assert used.status_code == 401 and used.json()["code"] == "setup_failed"
    assert login(server, "wangfang", "Wf-clinic-2026").status_code == 200
    assert login(server, "wangfang", "Another-2026x").status_code == 401
    assert staff_list(admin)["wangfang"]["has_password"]


def test_a_file_with_a_password_column_is_refused_whole(server: ServerProcess, tmp_path: Path) -> None:
    admin = ApiUser(server.url, "admin")
    path = write_csv(tmp_path / "staff.csv", [[*GOOD[0], "Secret-123"]], [*HEADER, "密码"])
    answer = run_import(admin, path, dry_run=False)
    assert answer.status_code == 422 and answer.json()["code"] == "password_column"
    assert "never imported" in answer.json()["message"]
    assert "wangfang" not in staff_list(admin)


def test_an_expired_setup_code_is_refused(demo_db_url: str, tmp_path: Path) -> None:
    process = ServerProcess(
        demo_db_url, tmp_path / "server.log", env={"CLINIC_SETUP_CODE_HOURS": "0"}
    ).start()
    try:
        admin = ApiUser(process.url, "admin")
        applied = run_import(admin, write_csv(tmp_path / "staff.csv", GOOD[:1]), dry_run=False).json()
        code = applied["setup_codes"][0]["code"]
        refused = setup(process, "wangfang", code, "Wf-clinic-2026")
        assert refused.status_code == 401 and refused.json()["code"] == "setup_failed"
        entries = admin.http.get("/api/v1/admin/audit/entries", params={"action": "auth.setup"}).json()
        assert [e["outcome"] for e in entries["entries"]][:1] == ["expired"]
    finally:
        process.stop()


def test_the_security_administrator_resets_a_password_and_signing_keys_and_unlocks(
    server: ServerProcess,
) -> None:
    security = ApiUser(server.url, "security")
    doctor = ApiUser(server.url, "doctor3")
    key = doctor.push_one("signing_key.register", register_args(doctor.staff["id"], generate_keypair(PIN)))
    assert key["status"] == "applied", key

    reset = security.http.post("/api/v1/admin/staff/doctor3/reset-password")
    assert reset.status_code == 200, reset.text
    code = reset.json()["setup_code"]
    assert reset.json()["tokens_revoked"] >= 1
    assert login(server, "doctor3", DEMO_PASSWORD).status_code == 401  # the old password stops working
    assert doctor.http.get("/api/v1/auth/me").status_code == 401  # and so does every session
    assert setup(server, "doctor3", code, "Clinic-new-42").status_code == 200
    assert login(server, "doctor3", "Clinic-new-42").status_code == 200

    keys = security.http.post("/api/v1/admin/staff/doctor3/reset-signing-key", json={"reason": "PC lost"})
    assert keys.status_code == 200 and keys.json()["revoked"] == [key["result"]["key_id"]]
    admin = ApiUser(server.url, "admin")
    changes, _ = admin.pull_all()
    revoked = [
        c["data"]
        for c in changes
        if c["kind"] == "signing_key" and c["data"]["id"] == keys.json()["revoked"][0]
    ]
    assert revoked and revoked[0]["revoked_at"] and revoked[0]["revoked_reason"] == "PC lost"
    assert staff_list(security)["doctor3"]["signing_keys"] == 0

    for _ in range(5):
        login(server, "doctor3", "wrong-password-1")
    assert login(server, "doctor3", "Clinic-new-42").status_code == 401  # locked from this PC
    assert staff_list(security)["doctor3"]["locked"]
    unlocked = security.http.post("/api/v1/admin/staff/doctor3/unlock")
    assert unlocked.status_code == 200 and unlocked.json()["cleared"] >= 1
    assert login(server, "doctor3", "Clinic-new-42").status_code == 200
    log = admin.http.get("/api/v1/admin/audit/entries", params={"action": "staff."}).json()["entries"]
    assert {"staff.reset_password", "staff.reset_signing_key"} <= {e["action"] for e in log}


@pytest.mark.parametrize("username", ["nurse1", "doctor1", "auditor", "admin"])
def test_other_roles_are_refused_every_credential_action(shared_server: ServerProcess, username: str) -> None:
    user = ApiUser(shared_server.url, username)
    for action in ("reset-password", "reset-signing-key", "unlock"):
        answer = user.http.post(f"/api/v1/admin/staff/pharmacist2/{action}", json={"reason": "x"})
        assert answer.status_code == 403, (action, answer.text)
    if username != "admin":
        assert user.http.get("/api/v1/admin/staff").status_code == 403
        body = {"filename": "s.csv", "content": base64.b64encode(b"username\nx\n").decode(), "dry_run": True}
        assert user.http.post("/api/v1/admin/import/staff", json=body).status_code == 403
