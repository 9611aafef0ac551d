"""The pharmacy's documents built from what the local store holds: prescription, labels, receipt, pick list.

Qt-free and pure apart from reading a ``StateReader`` (the store's view): the desk calls these on its
database thread and hands the bytes to the print queue. ``draft_of`` rebuilds the signed prescription
from the ``Prescription`` row so the doctor's signature can be verified and the checks re-run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared import clinic_time
from shared.domain import signatures
from shared.domain.entities import Department, Patient, Pharmacy, Prescription, Staff
from shared.domain.prescribing import (
    DiagnosisFacts,
    DrugFacts,
    FrequencyFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RouteFacts,
    RxLine,
)
from shared.domain.rx_checks import Acknowledgement, Finding, check_prescription
from shared.domain.rx_rule_sets import rules_for
from shared.printing.drug_label import DrugLabel, label_from_line, render_labels
from shared.printing.pick_list import PickItem, PickList, render_pick_list
from shared.printing.prescription import PrescriptionPrint, render_prescription
from shared.printing.receipt import (
    PickupSlip,
    Receipt,
    ReceiptLine,
    pickup_slip_escpos,
    receipt_escpos,
    slip_number,
)

HOSPITAL_FALLBACK = "门诊部"


def rx_lines(rx: Prescription) -> list[RxLine]:
    return [RxLine.model_validate(line) for line in rx.lines]


def line_id(rx: Prescription, index: int) -> str:
    """The id a prescription line goes by in the ledger (``Movement.rx_line_id``)."""
    line = rx.lines[index]
    return str(line.get("id") or f"{rx.id}:{index}")


def draft_of(view: Any, rx: Prescription) -> PrescriptionDraft:
    """The prescription as the doctor signed it: ``clinical.draft_of`` over the row's own snapshot of the
    patient and prescriber (rows written without one are rebuilt from the reference data)."""
    department = view.get(Department, rx.department_id) if rx.department_id else None
    dept_name = department.name if department else ""
    if getattr(rx, "patient_facts", None) and getattr(rx, "prescriber", None):
        from shared.domain.clinical import draft_of as clinical_draft

        return clinical_draft(rx).model_copy(update={"department": dept_name})
    patient = view.get(Patient, rx.patient_id)
    doctor = view.get(Staff, rx.doctor_id)
    return PrescriptionDraft(
        id=rx.id,
        number=rx.number,
        rx_type=rx.rx_type,  # type: ignore[arg-type]
        patient=PatientFacts.from_patient(patient)
        if patient is not None
        else PatientFacts(id=rx.patient_id, name="?", sex="U", birth_date=dt.date(1900, 1, 1)),
        prescriber=PrescriberFacts.from_staff(doctor)
        if doctor is not None
        else PrescriberFacts(staff_id=rx.doctor_id, name="?"),
        visit_id=rx.visit_id,
        department=dept_name,
        diagnoses=tuple(DiagnosisFacts.model_validate(d) for d in rx.diagnoses),
        written_at=rx.written_at,
        lines=tuple(rx_lines(rx)),
    )


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of verifying the doctor's signature on this PC (works offline)."""

    ok: bool
    reason: str  # "ok", "missing", "no_key", "changed", "not_signers_key", "revoked", "before_registration"
    fingerprint: str = ""
    doctor: str = ""
    signed_at: dt.datetime | None = None


def check_signature(view: Any, rx: Prescription, draft: PrescriptionDraft) -> SignatureCheck:
    """The doctor's signature by the very rules ``rx.sign`` applies (``signatures.rx_signature``): the
    signer's own registered key, not voided, registered before and not revoked at the signing time,
    over the prescription and its signing time."""
    doctor = draft.prescriber.name
    verdict = signatures.rx_signature(view, rx)
    reason = {signatures.UNKNOWN_KEY: "no_key"}.get(verdict.reason, verdict.reason)
    return SignatureCheck(verdict.ok, reason, verdict.fingerprint, doctor, rx.signed_at)


def findings_of(view: Any, draft: PrescriptionDraft, lang: str) -> list[Finding]:
    """The checks as the doctor saw them: by the rules in effect when the prescription was written."""
    return check_prescription(draft, rules_for(view, draft.written_at), lang=lang)


def acknowledgements_of(rx: Prescription) -> dict[tuple[str, int | None], Acknowledgement]:
    out: dict[tuple[str, int | None], Acknowledgement] = {}
    for raw in rx.acknowledgements:
        try:
            ack = Acknowledgement.model_validate(raw)
        except ValueError:
            continue
        out[ack.key] = ack
    return out


def hospital_name(view: Any, rx: Prescription) -> str:
    from shared.domain.entities import Campus

    campus = view.get(Campus, rx.campus_id)
    return campus.hospital_name if campus is not None else HOSPITAL_FALLBACK


def prescription_pdf(
    view: Any, rx: Prescription, *, reprint: bool, now: dt.datetime, draft: PrescriptionDraft | None = None
) -> bytes:
    """The same A5 prescription the workstation prints; ``reprint`` marks it 补打."""
    draft = draft or draft_of(view, rx)
    signature = check_signature(view, rx, draft)
    patient = view.get(Patient, rx.patient_id)
    doc = PrescriptionPrint(
        hospital_name=hospital_name(view, rx),
        draft=draft,
        patient_id_number=(patient.id_number or "") if patient is not None else "",
        signature_fingerprint=signature.fingerprint if rx.signature and signature.fingerprint else None,
        signed_at=rx.signed_at,
        reprint=reprint,
        printed_at=now,
        rules=rules_for(view, rx.written_at),
    )
    return render_prescription(doc)


@dataclass(frozen=True)
class HandedOut:
    """What one dispense handed out for one prescription line from one batch (minimum units)."""

    line_index: int
    batch_no: str
    expiry: dt.date | None
    quantity: int
    location: str = ""


def pharmacy_name(view: Any, pharmacy_id: str | None) -> str:
    pharmacy = view.get(Pharmacy, pharmacy_id) if pharmacy_id else None
    return pharmacy.name if pharmacy is not None else "门诊药房"


def labels_for(
    rx: Prescription,
    patient_name: str,
    handed: Sequence[HandedOut],
    *,
    pharmacy: str,
    on: dt.date,
) -> list[DrugLabel]:
    """One label per prescription line handed out (its batches summed; the first batch printed)."""
    lines = rx_lines(rx)
    per_line: dict[int, list[HandedOut]] = {}
    for h in handed:
        per_line.setdefault(h.line_index, []).append(h)
    labels = []
    for index, parts in sorted(per_line.items()):
        line = lines[index]
        first = min(parts, key=lambda p: (p.expiry or dt.date.max, p.batch_no))
        labels.append(
            label_from_line(
                line,
                patient_name=patient_name,
                dispensed_on=on,
                pharmacy_name=pharmacy,
                rx_no=rx.number,
                batch_no=first.batch_no if len(parts) == 1 else f"{first.batch_no} 等",
                expiry=first.expiry,
                dispensed_min_units=sum(p.quantity for p in parts),
            )
        )
    return labels


def labels_pdf(labels: Sequence[DrugLabel], *, size: str = "70x50", reprint: bool = False) -> bytes:
    return render_labels(labels, size="60x40" if size.startswith("60") else "70x50", reprint=reprint)


def receipt_for(
    rx: Prescription,
    patient_name: str,
    handed: Sequence[HandedOut],
    *,
    hospital: str,
    pharmacy: str,
    pharmacist: str,
    now: dt.datetime,
    pickup_code: str = "",
    reprint: bool = False,
    part: int = 1,
) -> Receipt:
    """The receipt of one dispense (``part``: its place among the prescription's dispenses): a 收费小票
    when the prescription was paid at this counter, else a 发药凭条; numbered from the prescription."""
    lines = rx_lines(rx)
    per_line: dict[int, int] = {}
    for h in handed:
        per_line[h.line_index] = per_line.get(h.line_index, 0) + h.quantity
    items = []
    for index, quantity in sorted(per_line.items()):
        drug = lines[index].drug
        packs, loose = divmod(quantity, drug.pack_qty)
        if loose:
            shown, unit = quantity, drug.min_unit
            amount = drug.price * Decimal(quantity) / Decimal(drug.pack_qty)
        else:
            shown, unit = packs, drug.pack_unit
            amount = drug.price * packs
        items.append(ReceiptLine(drug.generic_name, drug.spec, shown, unit, amount))
    paid = rx.paid_at is not None
    return Receipt(
        hospital=hospital,
        pharmacy_name=pharmacy,
        receipt_no=slip_number(rx.number, paid=paid, part=part),
        rx_no=rx.number,
        patient_name=patient_name,
        lines=tuple(items),
        printed_at=now,
        pharmacist=pharmacist,
        pickup_code=pickup_code,
        qr_payload=f"clinic:rx:{rx.number}",
        reprint=reprint,
        paid=paid,
        payment=_payment_text(rx) if paid else "",
    )


def _payment_text(rx: Prescription) -> str:
    from pharmacy_desk.texts import t

    method = t(f"pay.method.{rx.payment_method}", "zh_CN") if rx.payment_method else ""
    return "　".join(p for p in (method, rx.payment_ref) if p)


def pickup_slip_for(
    rx: Prescription,
    patient_name: str,
    code: str,
    *,
    hospital: str,
    pharmacy: str,
    now: dt.datetime,
    valid_until: dt.datetime | None = None,
    reprint: bool = False,
) -> PickupSlip:
    """The patient's pickup slip: the code (large), its QR (``pickup.pickup_qr_payload``: the counter
    scans it to find the prescription and check the code at once) and the drugs with their quantities."""
    from shared.domain.pickup import pickup_qr_payload

    items = tuple(
        ReceiptLine(line.drug.generic_name, line.drug.spec, line.quantity, line.drug.pack_unit, line.amount)
        for line in rx_lines(rx)
    )
    return PickupSlip(
        hospital=hospital,
        pharmacy_name=pharmacy,
        rx_no=rx.number,
        patient_name=patient_name,
        pickup_code=code,
        printed_at=now,
        lines=items,
        qr_payload=pickup_qr_payload(rx.id, code),
        valid_until=valid_until,
        reprint=reprint,
    )


def pickup_slip_bytes(slip: PickupSlip, *, paper: str = "80mm", encoding: str = "gb18030") -> bytes:
    return pickup_slip_escpos(
        slip,
        paper="58mm" if paper.startswith("58") else "80mm",
        mode="raster" if encoding == "raster" else "auto",
    )


def receipt_bytes(receipt: Receipt, *, paper: str = "80mm", encoding: str = "gb18030") -> bytes:
    return receipt_escpos(
        receipt,
        paper="58mm" if paper.startswith("58") else "80mm",
        mode="raster" if encoding == "raster" else "auto",
    )


def pick_items(rx: Prescription, patient_name: str, handed: Iterable[HandedOut]) -> list[PickItem]:
    lines = rx_lines(rx)
    items = []
    for h in handed:
        drug: DrugFacts = lines[h.line_index].drug
        items.append(
            PickItem(
                rx_no=rx.number,
                patient_name=patient_name,
                drug_id=drug.id,
                drug_name=drug.generic_name,
                spec=drug.spec,
                location=h.location or drug.code[:4],
                batch_no=h.batch_no,
                expiry=h.expiry or dt.date.max,
                quantity=h.quantity,
                pack_qty=drug.pack_qty,
                pack_unit=drug.pack_unit,
                min_unit=drug.min_unit,
            )
        )
    return items


def pick_list_pdf(items: Sequence[PickItem], *, pharmacy: str, by: str, now: dt.datetime) -> bytes:
    return render_pick_list(
        PickList(pharmacy_name=pharmacy, printed_at=now, printed_by=by, items=tuple(items))
    )


# --- built-in sample (the self-test and the printers screen's test page) ------------------------------


def sample_line() -> RxLine:
    drug = DrugFacts(
        id="sample-drug",
        code="X0001",
        generic_name="阿莫西林胶囊",
        spec="0.25g×24粒",
        form="胶囊",
        pack_unit="盒",
        pack_qty=24,
        min_unit="粒",
        dose_per_min_unit=Decimal("0.25"),
        dose_unit="g",
        default_dose=Decimal("0.5"),
        default_route="po",
        default_frequency="tid",
        price=Decimal("12.80"),
    )
    return RxLine(
        drug=drug,
        dose=Decimal("0.5"),
        dose_unit="g",
        route=RouteFacts(code="po", name_zh="口服", plain_zh="口服"),
        frequency=FrequencyFacts(
            code="tid", name_zh="每日三次", times_per_day=Decimal(3), plain_zh="每日3次"
        ),
        days=7,
        quantity=2,
        note="饭后服用",
    )


def sample_label(on: dt.date | None = None) -> DrugLabel:
    return label_from_line(
        sample_line(),
        patient_name="张三丰",
        dispensed_on=on or clinic_time.today(),
        pharmacy_name="门诊西药房",
        rx_no="RX-SELFTEST",
        batch_no="B240101",
        expiry=dt.date(2027, 12, 31),
    )


def sample_receipt(now: dt.datetime) -> Receipt:
    return Receipt(
        hospital="测试医院",
        pharmacy_name="门诊西药房",
        receipt_no="R-TEST",
        rx_no="RX-TEST",
        patient_name="张三丰",
        lines=(ReceiptLine("阿莫西林胶囊", "0.25g×24粒", 2, "盒", Decimal("25.60")),),
        printed_at=now,
        qr_payload="clinic:test",
        footer="打印机测试页：中文、金额与二维码应清晰可读。",
    )
