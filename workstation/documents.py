"""The workstation's printouts: the A5 prescription and the A4 visit note, where they go, and the print log.

Building a document is pure (``prescription_print`` / ``note_print`` from rows); ``send_pdf`` delivers the
bytes to the PC's printer for the kind (``site.printers["prescription"]`` / ``["visit_note"]``) and
every print is recorded with ``print.record`` (kept offline in the outbox like any mutation), and a
document that has a print record already is marked "补打" (reprint). Sending and recording touch the disk
or the network: run them on the DB thread.

Targets: ``file:/folder`` (a PDF per job, named by kind, time and number), ``file:/path/x.pdf`` (overwritten),
``cups:Queue`` (``lp -d``), ``tcp:host:port`` (raw 9100 for PDF-capable printers), ``none`` (the PDF is
kept in ``<data folder>/prints`` and the message says where).
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.domain.clinical import draft_of
from shared.domain.entities import (
    Campus,
    Department,
    EmrNote,
    Patient,
    Prescription,
    PrintRecord,
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
from shared.errors import SuiteError
from shared.i18n import tr
from shared.ids import new_id
from shared.printing.prescription import PrescriptionPrint, render_prescription
from shared.printing.transports import PrinterUnavailable, transport_from_url
from shared.printing.visit_note import NoteSection, VisitNotePrint
from shared.security.signing import fingerprint
from shared.site import PrinterSetting
from workstation import texts  # noqa: F401  (registers the ws.* messages used here)
from workstation.formats import NOTE_TITLES

DEFAULT_HOSPITAL = "门诊"
_jobs = itertools.count(1)


def printed_before(store: Any, document: str, ref_id: str) -> bool:
    """Whether a ``print.record`` of this document and row is known here (this PC's own, recorded
    offline too, or another PC's once synced): the next print is then a reprint."""
    return any(r.document == document and not r.voided for r in store.find(PrintRecord, ref_id=ref_id))


def record_print(
    store: Any,
    document: str,
    ref_id: str,
    *,
    reprint: bool,
    copies: int,
    printer: str,
    lang: str,
) -> str:
    """``print.record`` for a job that reached its printer; returns the record's id."""
    record_id = new_id()
    store.record(
        "print.record",
        {
            "id": record_id,
            "document": document,
            "ref_id": ref_id[:64],
            "reprint": reprint,
            "copies": copies,
            "printer": printer[:200],
            "printed_at": dt.datetime.now().astimezone(),
        },
        lang=lang,
    )
    return record_id


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
    return PrescriptionPrint(
        hospital_name=hospital,
        draft=draft,
        fee_category="自费",
        patient_id_number=(patient.id_number or "") if patient and rx.rx_type == "narcotic" else "",
        signature_fingerprint=fingerprint(key.public_key) if key and rx.signature else None,
        signed_at=rx.signed_at,
        reprint=reprint,
        printed_at=dt.datetime.now().astimezone(),
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
            DiagnosisFacts(code=d.code, name=d.name + (f"（{d.supplement}）" if d.supplement else ""))
            for d in note.diagnoses
        ),
        signature_fingerprint=fingerprint(key.public_key) if key and note.signature else None,
        signed_at=note.signed_at,
        reprint=reprint,
        printed_at=dt.datetime.now().astimezone(),
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


def printed_message(document: str, where: str, *, reprint: bool, target: str, lang: str) -> tuple[str, str]:
    """What the doctor is told once a print job is done, and its level: "printed" only when a printer
    was set; with no printer (``none``) the PDF was merely saved, and the message says so and where."""
    doc = tr(f"ws.doc.{document}", lang)
    scheme = (target or "none").strip().partition(":")[0]
    if scheme in ("none", ""):
        key = "ws.print.saved_no_printer_reprint" if reprint else "ws.print.saved_no_printer"
        return tr(key, lang, doc=doc, where=where), "warning"
    return tr("ws.print.reprinted" if reprint else "ws.print.sent", lang, doc=doc, where=where), "ok"


def _file_path(target: str, kind: str, title: str) -> Path:
    path = Path(target).expanduser()
    if path.suffix.lower() == ".pdf" and not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    path.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch for ch in title if ch.isalnum() or ch in "-_") or "doc"
    return path / f"{kind}-{safe}-{stamp}-{next(_jobs):04d}.pdf"


def _write_whole(path: Path, data: bytes) -> None:
    """Write beside and rename, so a folder watched by a print spooler never sees half a PDF."""
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    partial.replace(path)


def send_pdf(
    data: bytes, setting: PrinterSetting, *, kind: str, title: str, fallback_folder: Path, lang: str
) -> str:
    """Deliver a PDF to the printer of ``setting``; returns where it went (a path or a printer name)."""
    target = (setting.target or "none").strip()
    scheme, _, rest = target.partition(":")
    if scheme in ("none", ""):
        path = _file_path(str(fallback_folder), kind, title)
        _write_whole(path, data)
        return str(path)
    if scheme == "file":
        path = _file_path(rest[2:] if rest.startswith("//") else rest, kind, title)
        _write_whole(path, data)
        return str(path)
    if scheme == "cups":
        lp = shutil.which("lp")
        if lp is None:
            raise PrinterUnavailable(tr("ws.print.no_lp", lang, printer=rest))
        done = subprocess.run(  # noqa: S603 - fixed program, queue name from the site config
            [lp, "-d", rest, "-n", str(setting.copies)], input=data, capture_output=True, timeout=30
        )
        if done.returncode != 0:
            raise PrinterUnavailable(
                tr(
                    "ws.print.failed_lp",
                    lang,
                    printer=rest,
                    reason=done.stderr.decode(errors="replace").strip(),
                )
            )
        return rest
    if scheme == "tcp":
        url = target if rest.startswith("//") else f"tcp://{rest}"
        transport = transport_from_url(url)
        for _ in range(setting.copies):
            transport.send(data)
        return url
    raise SuiteError(tr("ws.print.unsupported", lang, target=target), code="printer_unsupported")


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

    day = today or dt.date.today()
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
        written_at=dt.datetime.combine(day, dt.time(9, 30)).astimezone(),
        lines=tuple(lines),
    )
    return PrescriptionPrint(
        hospital_name="华安市第一人民医院",
        draft=draft,
        fee_category="自费",
        printed_at=dt.datetime.now().astimezone(),
    )


def render_sample(folder: Path) -> Path:
    path = folder / "prescription_selftest.pdf"
    path.write_bytes(render_prescription(sample_prescription()))
    return path
