"""The workstation's printouts: the A5 prescription and the A4 visit note built from rows, and what a print
of them reports.

Building a document is pure (``prescription_print`` / ``note_print`` from rows). Where it goes, the spool
and the print record are every app's: ``WorkState.print_pdf`` hands the PDF to the shared print queue
(``shared.gui.printing``), which sends it to the PC's printer for the kind (``printers.prescription`` /
``printers.visit_note``, ``shared.printing.router``) and records it with ``print.record``
(``shared.printing.records``); a document that has a print record already is marked "补打" (reprint).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import clinic_time
from shared.domain.clinical import draft_of
from shared.domain.entities import (
    Campus,
    Department,
    EmrNote,
    Patient,
    Prescription,
    SigningKey,
    Visit,
)
from shared.domain.prescribing import (
    DiagnosisFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    new_line,
)
from shared.domain.rx_rule_sets import rules_for
from shared.i18n import tr
from shared.printing.prescription import PrescriptionPrint, render_prescription
from shared.printing.visit_note import NoteSection, VisitNotePrint
from shared.security.signing import fingerprint
from workstation import texts  # noqa: F401  (registers the ws.* messages used here)
from workstation.formats import NOTE_TITLES

DEFAULT_HOSPITAL = "门诊"


def _hospital(view: Any, campus_id: str | None) -> str:
    campus = view.get(Campus, campus_id) if campus_id else None
    return campus.hospital_name if campus else DEFAULT_HOSPITAL


def prescription_print(store: Any, rx: Prescription, *, reprint: bool) -> PrescriptionPrint:
    """The A5 document of a prescription row (signed or not), with the signing key's fingerprint."""
    with store.reading() as view:
        draft = draft_of(rx)
        department = view.get(Department, rx.department_id) if rx.department_id else None
        if department is not None:
            draft = draft.model_copy(update={"department": department.name})
        key = view.get(SigningKey, rx.signing_key_id) if rx.signing_key_id else None
        patient = view.get(Patient, rx.patient_id)
        hospital = _hospital(view, rx.campus_id)
        rules = rules_for(view, rx.written_at)
    return PrescriptionPrint(
        hospital_name=hospital,
        draft=draft,
        fee_category="自费",
        patient_id_number=(patient.id_number or "") if patient and rx.rx_type == "narcotic" else "",
        signature_fingerprint=fingerprint(key.public_key) if key and rx.signature else None,
        signed_at=rx.signed_at,
        reprint=reprint,
        printed_at=clinic_time.now(),
        rules=rules,
    )


def note_print(store: Any, note: EmrNote, *, reprint: bool) -> VisitNotePrint:
    with store.reading() as view:
        visit = view.get(Visit, note.visit_id)
        patient = view.get(Patient, note.patient_id)
        department = view.get(Department, note.department_id) if note.department_id else None
        key = view.get(SigningKey, note.signing_key_id) if note.signing_key_id else None
        from shared.domain.entities import Staff

        doctor = view.get(Staff, note.doctor_id)
        hospital = _hospital(view, note.campus_id)
    assert patient is not None
    return VisitNotePrint(
        hospital_name=hospital,
        patient=PatientFacts.from_patient(patient),
        visit_at=visit.opened_at if visit else note.created_at,
        department=department.name if department else "",
        doctor_name=doctor.name if doctor else "",
        doctor_title=doctor.title if doctor else "",
        sections=tuple(
            NoteSection(title=title, text=getattr(note, name)) for name, title in NOTE_TITLES.items()
        ),
        diagnoses=tuple(
            DiagnosisFacts(
                code=d.code,
                name=d.name + (f"（{d.supplement}）" if d.supplement else ""),
                code_set=d.code_set,
            )
            for d in note.diagnoses
        ),
        signature_fingerprint=fingerprint(key.public_key) if key and note.signature else None,
        signed_at=note.signed_at,
        reprint=reprint,
        printed_at=clinic_time.now(),
    )


@dataclass(frozen=True)
class Printed:
    document: str
    ref_id: str
    where: str
    reprint: bool
    data: bytes
    record_id: str = ""
    warning: str = ""
    saved_to_file: bool = False  # the printer setting only saves files: nothing reached paper


def printed_message(
    document: str, where: str, *, reprint: bool, printer_set: bool, lang: str
) -> tuple[str, str]:
    """What the doctor is told once a print job is done, and its level: "printed" only when a printer
    was set for the document; with none set the PDF was merely saved (to the data folder's default file
    printer), and the message says so and where."""
    doc = tr(f"ws.doc.{document}", lang)
    if not printer_set:
        key = "ws.print.saved_no_printer_reprint" if reprint else "ws.print.saved_no_printer"
        return tr(key, lang, doc=doc, where=where), "warning"
    return tr("ws.print.reprinted" if reprint else "ws.print.sent", lang, doc=doc, where=where), "ok"


# ------------------------------------------------------------------------------------ sample data


def _demo_csv(name: str) -> list[dict[str, str]]:
    import csv
    import io
    from importlib import resources

    text = resources.files("shared.demo_data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def sample_prescription(today: dt.date | None = None) -> PrescriptionPrint:
    """A built-in 3-line prescription from the shipped reference CSVs (the self-test renders it; no
    database and no server code needed)."""
    from shared.domain.prescribing import DrugFacts, FrequencyFacts, RouteFacts

    day = today or clinic_time.today()
    wanted = ("阿莫西林胶囊", "布洛芬缓释胶囊", "盐酸氨溴索片")
    rows = {r["generic_name"]: r for r in _demo_csv("drugs.csv") if r["generic_name"] in wanted}
    freqs = {r["code"]: FrequencyFacts.model_validate(r) for r in _demo_csv("frequencies.csv")}
    rts = {
        r["code"]: RouteFacts.model_validate({**r, "is_injection": r["is_injection"] == "1"})
        for r in _demo_csv("routes.csv")
    }
    lines = []
    for name in wanted:
        row = rows[name]
        facts = DrugFacts.model_validate(
            {
                **{k: v for k, v in row.items() if k in DrugFacts.model_fields and v != ""},
                "id": row["code"],
                "skin_test": row["skin_test"] == "1",
            }
        )
        lines.append(new_line(facts, frequencies=freqs, routes=rts, days=3))
    draft = PrescriptionDraft(
        id="rx-selftest",
        number=f"R{day:%y%m%d}-SELFTS-0001",
        patient=PatientFacts(id="p-selftest", name="张三丰", sex="M", birth_date=dt.date(1980, 5, 1)),
        prescriber=PrescriberFacts(staff_id="s-selftest", name="李医生", title="主治医师"),
        department="呼吸内科",
        diagnoses=(DiagnosisFacts(code="J06.900", name="急性上呼吸道感染"),),
        written_at=dt.datetime.combine(day, dt.time(9, 30), clinic_time.clinic_zone()),
        lines=tuple(lines),
    )
    return PrescriptionPrint(
        hospital_name="华安市第一人民医院",
        draft=draft,
        fee_category="自费",
        printed_at=clinic_time.now(),
    )


def render_sample(folder: Path) -> Path:
    path = folder / "prescription_selftest.pdf"
    path.write_bytes(render_prescription(sample_prescription()))
    return path
