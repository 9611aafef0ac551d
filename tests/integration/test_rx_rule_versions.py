"""Prescription rules as administered, dated data, against a real server on loopback: an administrator
tightens "ordinary.max_days 7 → 5" from now; a new 6-day ordinary prescription is then refused by the
server and by a doctor's PC after it pulled, while one written before keeps passing its re-checks and
prints with its own time's rules; a change scheduled for later does not apply yet; roles that do not
administer are refused; an edit made while a PC is offline reaches it after it reconnects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from pharmacy_desk.documents import draft_of as pharmacy_draft_of
from pharmacy_desk.documents import findings_of
from shared.domain.entities import Patient, Prescription, RxRuleSet
from shared.domain.rx_checks import check_prescription
from shared.domain.rx_rule_sets import rules_for, table_json, with_limits
from shared.domain.rx_rules import RuleTable, default_rules
from shared.errors import SuiteError
from shared.ids import new_id
from shared.printing.prescription import render_prescription
from shared.sync import SyncState
from tests.clinical.support import create_args, draft, first_drugs, line
from tests.support.api import ApiUser
from tests.support.server import ServerProcess
from tests.sync.support import ClientPC, make_client
from workstation.documents import prescription_print

NEW_LABEL = "普通·新规"


def five_days() -> RuleTable:
    """Ordinary prescriptions at most 5 days, and (so a print shows which rules it used) a corner label."""
    table = with_limits(default_rules(), days={"ordinary": (5, 3)})
    data = table_json(table)
    data["types"]["ordinary"].update(show_label=True, label_zh=NEW_LABEL)
    return RuleTable.model_validate(data)


def set_rules(user: ApiUser, table: RuleTable, effective_from: dt.datetime | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"id": new_id(), "rules": table_json(table)}
    if effective_from is not None:
        args["effective_from"] = effective_from.isoformat()
    return user.push_one("reference.set_rx_rules", args)


def write_rx(pc: ClientPC, days: int, written_at: dt.datetime | None = None) -> Any:
    patient = next(p for p in pc.store.all(Patient) if not p.allergies)
    session = pc.store.session()
    assert session is not None
    known = [rx.number for rx in pc.store.all(Prescription)]
    name = first_drugs(1)[0]
    written = written_at or dt.datetime.now(dt.UTC)  # to the microsecond: the change was a moment ago
    return draft(patient, session.staff, [line(name, days=days)], device_id=pc.store.device_id,
                 existing=known, written_at=written)  # fmt: skip


def pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return "".join(page.extract_text() for page in PdfReader(path).pages).replace(" ", "")


def test_tighter_days_from_now_refuse_a_new_rx_on_server_and_pc_and_leave_an_older_one_as_it_was(
    any_server: ServerProcess, tmp_path: Path
) -> None:
    admin = ApiUser(any_server.url, "admin")
    pc = make_client(tmp_path / "doctor.db", any_server.url, "doctor1")
    try:
        older = write_rx(pc, days=6)
        pc.store.record("rx.create", create_args(older))  # 6 days: within the shipped 7
        assert pc.sync().state is SyncState.ONLINE and pc.store.pending_count() == 0

        changed = set_rules(admin, five_days())
        assert changed["status"] == "applied", changed
        assert "ordinary.max_days 7 → 5" in changed["result"]["changes"]
        later = with_limits(five_days(), days={"ordinary": (2, 2)})
        scheduled = set_rules(admin, later, dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
        assert scheduled["status"] == "applied", scheduled
        # the same rules again change nothing: no third version
        again = set_rules(admin, five_days())
        assert again["status"] == "applied" and again["result"]["changed"] is False, again

        # the server refuses a new 6-day ordinary prescription (the doctor's own device tag)
        doctor = ApiUser(any_server.url, "doctor1", device_id=pc.store.device_id)
        fresh = write_rx(pc, days=6)
        refused = doctor.push_one("rx.create", create_args(fresh))
        assert refused["status"] == "rejected" and refused["code"] == "rx_blocked", refused
        assert any(f["code"] == "rx.days_exceeded" for f in refused["detail"]), refused

        # the PC, after its pull, checks by the new rules (the scheduled ones not yet)
        assert pc.sync().state is SyncState.ONLINE
        assert len(pc.store.all(RxRuleSet)) == 3  # the demo's shipped version, now's, the scheduled one
        now = dt.datetime.now(dt.UTC)
        assert rules_for(pc.store, now).type_rule("ordinary").max_days == 5
        assert rules_for(pc.store, now + dt.timedelta(days=3)).type_rule("ordinary").max_days == 2
        assert any(f.code == "rx.days_exceeded" for f in check_prescription(fresh, rules_for(pc.store, now)))
        try:
            pc.store.record("rx.create", create_args(fresh))
        except SuiteError as error:  # the local rule refuses it too, nothing stored
            assert error.code == "rx_blocked", error
        else:
            raise AssertionError("the PC accepted a 6-day ordinary prescription")
        five = write_rx(pc, days=5)
        pc.store.record("rx.create", create_args(five))
        assert pc.sync().state is SyncState.ONLINE and pc.store.pending_count() == 0

        # the older prescription keeps passing its re-checks: the pharmacy's and an amend on the server
        old_rx = pc.store.get(Prescription, older.id)
        assert old_rx is not None and old_rx.status == "draft"
        review = findings_of(pc.store, pharmacy_draft_of(pc.store, old_rx), "zh_CN")  # the pharmacist's
        assert not [f for f in review if f.level == "block"], review
        fresh_review = findings_of(pc.store, fresh.model_copy(update={"written_at": now}), "zh_CN")
        assert any(f.code == "rx.days_exceeded" for f in fresh_review)
        amend = {"rx_id": older.id, "lines": create_args(older)["lines"], "acknowledgements": []}
        amended = doctor.push_one("rx.amend", amend, base_version=old_rx.version)
        assert amended["status"] == "applied", amended

        # … and prints with its own time's rules: no new corner label; the new one carries it
        assert pc.sync().state is SyncState.ONLINE
        old_rx = pc.store.get(Prescription, older.id)
        new_rx = pc.store.get(Prescription, five.id)
        assert old_rx is not None and new_rx is not None
        old_print = prescription_print(pc.store, old_rx, reprint=True)
        assert old_print.rules is not None and old_print.rules.type_rule("ordinary").max_days == 7
        assert NEW_LABEL not in pdf_text(render_prescription(old_print), tmp_path, "old.pdf")
        new_pdf = render_prescription(prescription_print(pc.store, new_rx, reprint=False))
        assert NEW_LABEL in pdf_text(new_pdf, tmp_path, "new.pdf")
    finally:
        pc.close()


def test_roles_that_do_not_administer_may_not_change_the_rules(any_server: ServerProcess) -> None:
    admin = ApiUser(any_server.url, "admin")
    for username in ("doctor1", "pharmacist1", "auditor", "security"):
        user = ApiUser(any_server.url, username)
        args = {"id": new_id(), "rules": table_json(five_days())}
        response = user.push(user.envelope("reference.set_rx_rules", args))
        if response.status_code == 200:  # a role that pushes gets the mutation rejected
            outcome = response.json()["outcomes"][0]
            assert outcome["status"] == "rejected", (username, outcome)
        else:  # a role that may push nothing at all is refused at the door
            assert response.status_code == 403, (username, response.text)
    versions = [c for c in admin.pull_all()[0] if c["kind"] == "rx_rule_set"]
    assert len(versions) == 1  # the demo's shipped version only


def test_a_past_moment_and_an_invalid_table_are_refused_and_every_attempt_is_audited(
    any_server: ServerProcess,
) -> None:
    admin = ApiUser(any_server.url, "admin")
    past = set_rules(admin, five_days(), dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert past["status"] == "rejected" and past["code"] == "rules_in_past", past
    data = table_json(default_rules())
    data["types"]["weekly"] = data["types"]["ordinary"]
    bad = admin.push_one("reference.set_rx_rules", {"id": new_id(), "rules": data})
    assert bad["status"] == "rejected" and bad["code"] == "invalid_rules", bad
    assert "types.weekly" in bad["message"], bad
    applied = set_rules(admin, five_days())
    assert applied["status"] == "applied", applied
    response = admin.http.get(
        "/api/v1/admin/audit/entries", params={"action": "mutation.reference.set_rx_rules"}
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    outcomes = sorted(e["outcome"] for e in entries)
    assert len(entries) == 3 and outcomes.count("applied") == 1, entries  # the refused ones too
    assert all(e["username"] == "admin" for e in entries)
    assert any("ordinary.max_days 7 → 5" in str(e["detail"]) for e in entries), entries


def test_an_edit_made_while_a_pc_is_offline_reaches_it_after_it_reconnects(
    any_server: ServerProcess, tmp_path: Path
) -> None:
    doctor_db = tmp_path / "doctor.db"
    pc = make_client(doctor_db, any_server.url, "doctor1")
    assert pc.sync().state is SyncState.ONLINE
    pc.close()  # the doctor's PC is off the network from here

    admin_pc = make_client(tmp_path / "admin.db", any_server.url, "admin")
    try:
        admin_pc.store.record("reference.set_rx_rules", {"id": new_id(), "rules": table_json(five_days())})
        # the administrator's own PC applies it at once (the same rule), then the server confirms it
        assert rules_for(admin_pc.store, dt.datetime.now(dt.UTC)).type_rule("ordinary").max_days == 5
        assert admin_pc.sync().state is SyncState.ONLINE and admin_pc.store.pending_count() == 0
    finally:
        admin_pc.close()

    back = make_client(doctor_db, any_server.url, "doctor1", bootstrap=False)
    try:
        assert rules_for(back.store, dt.datetime.now(dt.UTC)).type_rule("ordinary").max_days == 7
        assert back.sync().state is SyncState.ONLINE
        assert rules_for(back.store, dt.datetime.now(dt.UTC)).type_rule("ordinary").max_days == 5
        assert any("rx_rule_set" in kinds for kinds in back.changed_kinds)
    finally:
        back.close()
