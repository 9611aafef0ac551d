"""The printed prescription says 未询问 (not asked) for a patient nobody asked about allergies, 无已知过敏
only when someone asked and there is none, and the allergens when there are: real PDFs read back."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from shared.domain.entities import Patient
from shared.domain.prescribing import PatientFacts
from shared.printing.pdf_fonts import cjk_pdf_font
from shared.printing.prescription import PrescriptionPrint, render_prescription
from tests.shared.domain.rx_fixtures import draft, line


def printed_allergy_line(patient: Patient) -> str:
    facts = PatientFacts.from_patient(patient)
    doc = PrescriptionPrint(
        hospital_name="兰州市第一人民医院",
        draft=draft(line("布洛芬缓释胶囊", days=3), pat=facts),
        fee_category="医保",
        patient_id_number="",
        signature_fingerprint=None,
        signed_at=None,
        printed_at=dt.datetime(2026, 12, 6, 9, 30),
    )
    pdf = render_prescription(doc, font=cjk_pdf_font(cid_only=True))
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    return next(row for row in text.splitlines() if "过敏史" in row).replace(" ", "")


def patient(**fields: object) -> Patient:
    values: dict[str, object] = {"id": "p-1", "name": "张三丰", "sex": "M", "birth_date": dt.date(1960, 3, 1)}
    values.update(fields)
    return Patient.model_validate(values)


def test_a_patient_nobody_asked_is_printed_as_not_asked_not_as_no_known_allergy() -> None:
    row = printed_allergy_line(patient())  # registered before the allergy status existed
    assert "未询问" in row and "无" not in row.replace("过敏史", "")
    assert "未询问" in printed_allergy_line(patient(allergy_status="not_asked"))


def test_a_patient_who_said_none_is_printed_as_no_known_allergy() -> None:
    assert "无已知过敏" in printed_allergy_line(patient(allergy_status="none"))


def test_named_allergies_are_printed() -> None:
    row = printed_allergy_line(patient(allergies=["青霉素", "磺胺类"], allergy_status="listed"))
    assert "青霉素" in row and "磺胺类" in row and "未询问" not in row


def test_the_visit_note_says_not_asked_too() -> None:
    from shared.printing.visit_note import NoteSection, VisitNotePrint, render_visit_note

    def printed(p: Patient) -> str:
        doc = VisitNotePrint(
            hospital_name="兰州市第一人民医院",
            patient=PatientFacts.from_patient(p),
            visit_at=dt.datetime(2026, 12, 6, 9, 5),
            department="呼吸内科",
            doctor_name="李明华",
            doctor_title="主治医师",
            sections=(NoteSection(title="主诉", text="咳嗽3天。"),),
            diagnoses=(),
            signature_fingerprint=None,
            signed_at=None,
            printed_at=dt.datetime(2026, 12, 6, 9, 30),
        )
        text = (
            PdfReader(io.BytesIO(render_visit_note(doc, font=cjk_pdf_font(cid_only=True))))
            .pages[0]
            .extract_text()
        )
        return next(row for row in text.splitlines() if "过敏史" in row).replace(" ", "")

    assert "过敏史：未询问" in printed(patient())
    assert "过敏史：无已知过敏" in printed(patient(allergy_status="none"))


def test_the_checks_say_the_allergy_history_was_not_asked_and_never_block_for_it() -> None:
    from shared.domain.rx_checks import allergy_note, check_prescription

    not_asked = PatientFacts.from_patient(patient())
    assert allergy_note(not_asked) == "过敏史：未询问（不是“无已知过敏”），过敏核对无从进行，请先询问患者"
    assert "not asked" in (allergy_note(not_asked, "en") or "")
    assert allergy_note(PatientFacts.from_patient(patient(allergy_status="none"))) is None
    assert allergy_note(PatientFacts.from_patient(patient(allergies=["青霉素"]))) is None
    findings = check_prescription(draft(line("布洛芬缓释胶囊", days=3), pat=not_asked))
    assert all(f.code != "rx.allergy_not_asked" for f in findings)  # shown beside, not a finding to sign off
