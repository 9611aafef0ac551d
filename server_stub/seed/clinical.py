"""Demo clinical data: visit-note templates (personal and per department), treatment plans (order sets),
signing keys for a few doctors, and past visits with signed notes, lab results and signed prescriptions
for some of today's patients, so the workstation's history timeline has content.

Signing keys: ``KEY_HOLDERS`` (doctor16 … doctor19 and doctor24) get a public key registered a year
ago for the device "demo-seed"; its private key exists only while seeding, to sign their history, and
is then forgotten (a private key never leaves the PC it belongs to, and the seed is no PC). Every
doctor and pharmacist, these included, makes a key on each PC at the first signature there (a PIN, and
``signing_key.register`` while online). Past prescriptions are ``dispensed`` history, signed for real
(their signatures verify), numbered ``R<yymmdd>-<tag of "demo-seed">-<n>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from server_stub.seed import reference
from shared.domain.clinical import note_signed_content, rx_number, rx_signed_content
from shared.domain.entities import (
    DEFAULT_CODE_SET,
    Appointment,
    ClinicalOrder,
    Department,
    Drug,
    EmrNote,
    Entity,
    ExamItem,
    Frequency,
    NoteDiagnosis,
    NoteTemplate,
    OrderSet,
    OrderSetLine,
    Patient,
    Prescription,
    Route,
    SigningKey,
    Staff,
    Visit,
)
from shared.domain.prescribing import (
    DiagnosisFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RxLine,
    new_line,
    total_amount,
)
from shared.domain.rx_checks import acknowledge, blocking, check_prescription
from shared.ids import reference_id
from shared.security.providers import Ed25519Provider, key_fingerprint
from shared.security.signing import canonical_bytes

_SIGNER = Ed25519Provider()
KEY_HOLDERS = ("doctor16", "doctor17", "doctor18", "doctor19", "doctor24")
HISTORY_PATIENTS = 8
SEED_DEVICE = "demo-seed"

_GENERIC_TEMPLATES = (
    (
        "初诊通用",
        {
            "chief_complaint": "（症状）（持续时间）",
            "present_illness": "患者于（时间）前无明显诱因出现（症状），（伴随症状）。自行（处理），效果（）。"
            "发病以来精神、饮食、睡眠可，二便正常，体重无明显变化。",
            "past_history": "否认高血压、糖尿病、冠心病等慢性病史，否认手术外伤史，否认输血史。",
            "allergy_history": "否认药物及食物过敏史。",
            "examination": "T ℃  P 次/分  R 次/分  BP / mmHg。神志清，精神可。",
            "advice": "按时服药，不适随诊。",
        },
    ),
    (
        "复诊通用",
        {
            "chief_complaint": "（疾病）复诊",
            "present_illness": "患者（疾病）病史（时间），规律服用（药物），目前（症状控制情况）。",
            "examination": "T ℃  BP / mmHg。一般情况可。",
            "advice": "继续目前治疗，定期复查。",
        },
    ),
)

# department code suffix -> (name, sections, ICD-10 codes)
_DEPARTMENT_TEMPLATES: dict[str, list[tuple[str, dict[str, str], tuple[str, ...]]]] = {
    "NK": [
        (
            "高血压复诊",
            {
                "chief_complaint": "血压升高（ ）年，复诊",
                "present_illness": "规律服用降压药，家庭自测血压（ / ）mmHg，无头晕头痛，无胸闷胸痛。",
                "examination": "BP / mmHg，HR 次/分，律齐，双下肢无水肿。",
                "advice": "低盐低脂饮食，规律监测血压，每月复诊。",
            },
            ("I10",),
        )
    ],
    "HX": [
        (
            "急性支气管炎",
            {
                "chief_complaint": "咳嗽、咳痰（ ）天",
                "present_illness": "受凉后出现咳嗽，咳白色黏痰，伴（发热/咽痛），无胸痛、咯血。",
                "examination": "咽部充血，双肺呼吸音粗，未闻及干湿啰音。",
                "advice": "多饮水，注意休息；发热超过3天或气促加重随诊。",
            },
            ("J20.9",),
        )
    ],
    "XH": [
        (
            "慢性胃炎",
            {
                "chief_complaint": "上腹部隐痛（ ）周",
                "present_illness": "进食后上腹饱胀隐痛，伴嗳气反酸，无黑便、呕血。",
                "examination": "腹软，上腹轻压痛，无反跳痛，肝脾肋下未触及。",
                "advice": "规律饮食，忌辛辣刺激；必要时胃镜检查。",
            },
            ("K29.7",),
        )
    ],
    "EK": [
        (
            "小儿上感",
            {
                "chief_complaint": "发热（ ）天，伴咳嗽",
                "present_illness": "最高体温（ ）℃，精神反应可，食欲稍差，无抽搐、皮疹。",
                "examination": "咽充血，扁桃体无肿大，双肺呼吸音清。",
                "advice": "体温超过38.5℃口服退热药，多饮水；精神差或持续高热随诊。",
            },
            ("J06.9",),
        )
    ],
    "QK": [
        (
            "上呼吸道感染",
            {
                "chief_complaint": "咽痛、流涕（ ）天",
                "examination": "咽充血，双肺呼吸音清。",
                "advice": "多饮水，注意休息，不适随诊。",
            },
            ("J06.9",),
        )
    ],
}

# personal treatment plans: (name, rx_type, [(drug, days)], exam item codes)
_ORDER_SETS: tuple[tuple[str, str, tuple[tuple[str, int], ...], tuple[str, ...]], ...] = (
    ("上感三联", "ordinary", (("连花清瘟胶囊", 3), ("对乙酰氨基酚片", 3), ("盐酸氨溴索片", 3)), ("LAB0001",)),
    ("高血压起始治疗", "ordinary", (("苯磺酸氨氯地平片", 7),), ("LAB0008", "LAB0007", "LAB0015")),
    ("胃炎对症", "ordinary", (("奥美拉唑肠溶胶囊", 7), ("铝碳酸镁咀嚼片", 7)), ()),
    ("过敏性皮炎", "ordinary", (("氯雷他定片", 7),), ()),
)
_PERSONAL_TEMPLATE_OWNERS = ("doctor1", "doctor2", "doctor3", "doctor4", *KEY_HOLDERS)


@dataclass(frozen=True)
class _Case:
    diagnosis: str
    chief_complaint: str
    present_illness: str
    examination: str
    advice: str
    drugs: tuple[tuple[str, int], ...]
    order: tuple[str, str, str]  # exam item code, result text, flag


# past cases by the department code suffix of the key-holding doctor who saw them
_CASES: dict[str, _Case] = {
    "NK": _Case(
        "I10",
        "头晕两周，血压偏高",
        "两周来晨起头晕，家庭自测血压150-160/90-100mmHg，无胸痛、黑朦。",
        "BP 156/96mmHg，HR 78次/分，律齐，双下肢无水肿。",
        "低盐饮食，监测血压，一周后复诊。",
        (("苯磺酸氨氯地平片", 7),),
        ("LAB0008", "TC 6.2mmol/L↑，LDL-C 4.1mmol/L↑，TG 1.6mmol/L，HDL-C 1.1mmol/L", "abnormal"),
    ),
    "HX": _Case(
        "J20.9",
        "咳嗽咳痰五天",
        "受凉后咳嗽，咳白黏痰，低热37.8℃，无胸痛、咯血。",
        "T 37.6℃，咽充血，双肺呼吸音粗，未闻及啰音。",
        "多饮水，注意休息，一周后不愈复诊。",
        (("盐酸氨溴索片", 5), ("连花清瘟胶囊", 5)),
        ("LAB0001", "WBC 9.8×10^9/L，N 72%，Hb 136g/L，PLT 245×10^9/L", "normal"),
    ),
    "XH": _Case(
        "K29.7",
        "上腹部隐痛一周",
        "进食后上腹饱胀隐痛，伴反酸嗳气，无黑便。",
        "腹软，上腹轻压痛，无反跳痛。",
        "规律饮食，忌辛辣，两周后复诊，必要时胃镜。",
        (("奥美拉唑肠溶胶囊", 7), ("铝碳酸镁咀嚼片", 7)),
        ("LAB0004", "粪便常规未见异常，隐血阴性", "normal"),
    ),
    "NF": _Case(
        "E11.9",
        "口干多饮一月",
        "一月来口干多饮，多尿，体重下降约2kg，空腹血糖8.9mmol/L。",
        "BMI 26.1，心肺无异常，双足背动脉搏动可。",
        "糖尿病饮食，适量运动，监测血糖，一月后复诊。",
        (("盐酸二甲双胍片", 7),),
        ("LAB0012", "HbA1c 7.8%↑", "abnormal"),
    ),
    "PF": _Case(
        "L30.9",
        "皮疹瘙痒五天",
        "双前臂红色丘疹伴瘙痒，搔抓后渗出，无发热。",
        "双前臂散在红斑丘疹，少许渗出，边界不清。",
        "避免搔抓及热水烫洗，一周后复诊。",
        (("氯雷他定片", 7),),
        ("LAB0001", "WBC 6.5×10^9/L，EOS 6.8%↑", "abnormal"),
    ),
}


def _suffix(department: Department) -> str:
    return department.code.rsplit("-", 1)[-1]


def _diagnoses(codes: Iterable[str], names: dict[str, str]) -> list[NoteDiagnosis]:
    return [
        NoteDiagnosis(code=c, name=names[c], primary=n == 0, code_set=DEFAULT_CODE_SET)
        for n, c in enumerate(codes)
    ]


_Template = tuple[str, dict[str, str], tuple[str, ...]]
_PERSONAL_TEMPLATES: tuple[_Template, ...] = (
    (
        "复诊取药",
        {"chief_complaint": "复诊取药", "present_illness": "病情平稳，无新发不适，要求继续原方案治疗。"},
        (),
    ),
    *_DEPARTMENT_TEMPLATES["QK"],
)


def _template(
    key: str,
    name: str,
    sections: dict[str, str],
    codes: Iterable[str],
    icd_names: dict[str, str],
    **owner: object,
) -> NoteTemplate:
    return NoteTemplate.model_validate(
        {
            "id": reference_id("note_template", key),
            "name": name,
            "diagnoses": _diagnoses(codes, icd_names),
            **sections,
            **owner,
        }
    )


def templates(
    staff: Sequence[Staff], departments: Sequence[Department], icd_names: dict[str, str]
) -> Iterator[NoteTemplate]:
    """Department templates for every clinical department (two generic, plus a specialty one where the
    department has it) and two personal ones for a few demo doctors."""
    for dept in departments:
        if dept.kind != "clinical":
            continue
        rows: list[_Template] = [(name, sections, ()) for name, sections in _GENERIC_TEMPLATES]
        rows += _DEPARTMENT_TEMPLATES.get(_suffix(dept), [])
        for name, sections, codes in rows:
            yield _template(
                f"{dept.code}:{name}",
                name,
                sections,
                codes,
                icd_names,
                scope="department",
                department_id=dept.id,
            )
    by_name = {s.username: s for s in staff}
    for username in _PERSONAL_TEMPLATE_OWNERS:
        doctor = by_name.get(username)
        if doctor is None:
            continue
        for name, sections, codes in _PERSONAL_TEMPLATES:
            yield _template(
                f"{username}:{name}",
                name,
                sections,
                codes,
                icd_names,
                scope="personal",
                owner_id=doctor.id,
                department_id=doctor.department_id,
                created_by=doctor.id,
            )


def order_sets(
    staff: Sequence[Staff], drugs: dict[str, Drug], items: dict[str, ExamItem]
) -> Iterator[OrderSet]:
    """The personal treatment plans of a few demo doctors (drug lines with default usage, exam items)."""
    by_name = {s.username: s for s in staff}
    for username in _PERSONAL_TEMPLATE_OWNERS:
        doctor = by_name.get(username)
        if doctor is None:
            continue
        for name, rx_type, lines, exam_codes in _ORDER_SETS:
            yield OrderSet(
                id=reference_id("order_set", f"{username}:{name}"),
                name=name,
                scope="personal",
                owner_id=doctor.id,
                department_id=doctor.department_id,
                rx_type=rx_type,
                lines=[
                    OrderSetLine(
                        drug_id=drugs[drug].id, drug_code=drugs[drug].code, drug_name=drug, days=days
                    )
                    for drug, days in lines
                ],
                exam_item_ids=[items[code].id for code in exam_codes],
                created_by=doctor.id,
            )


def signing_keys(
    staff: Sequence[Staff], *, registered_at: dt.datetime
) -> dict[str, tuple[SigningKey, bytes]]:
    """A registered public key and its private key (kept in memory for the history only) for each of
    ``KEY_HOLDERS``."""
    provider = Ed25519Provider()
    out: dict[str, tuple[SigningKey, bytes]] = {}
    for member in staff:
        if member.username not in KEY_HOLDERS:
            continue
        pair = provider.generate()
        row = SigningKey(
            id=reference_id("signing_key", member.username),
            staff_id=member.id,
            algorithm=pair.algorithm,
            public_key=pair.public_key,
            fingerprint=key_fingerprint(pair.public_key),
            registered_at=registered_at,
            device_id=SEED_DEVICE,
            updated_at=registered_at,
        )
        out[member.id] = (row, pair.private)
    return out


def history(
    *,
    staff: Sequence[Staff],
    departments: Sequence[Department],
    patients: Sequence[Patient],
    appointments: Sequence[Appointment],
    keys: dict[str, tuple[SigningKey, bytes]],
    drugs: dict[str, Drug],
    items: dict[str, ExamItem],
    icd_names: dict[str, str],
    today: dt.date,
    tz: ZoneInfo,
) -> Iterator[Entity]:
    """Past visits (closed) of the first patients booked today: a signed note, a resulted lab order and a
    signed, dispensed prescription each, by the key-holding doctors (one or two visits per patient)."""
    frequencies = {f.code: f for f in reference.frequencies()}
    routes = {r.code: r for r in reference.routes()}
    dept_by_id = {d.id: d for d in departments}
    doctors = [
        s
        for s in staff
        if s.id in keys and s.department_id and _suffix(dept_by_id[s.department_id]) in _CASES
    ]
    by_id = {p.id: p for p in patients}
    chosen: list[Patient] = []
    for appointment in appointments:
        patient = by_id.get(appointment.patient_id)
        if patient is not None and patient not in chosen:
            chosen.append(patient)
        if len(chosen) == HISTORY_PATIENTS:
            break
    seq: dict[dt.date, int] = {}
    for n, patient in enumerate(chosen):
        for visit_no in range(1 + n % 2):
            doctor = doctors[(n + visit_no) % len(doctors)]
            assert doctor.department_id and doctor.campus_id
            case = _CASES[_suffix(dept_by_id[doctor.department_id])]
            day = today - dt.timedelta(days=21 + 37 * visit_no + 5 * n)
            opened = dt.datetime.combine(day, dt.time(9, 10 + 4 * (n % 10)), tz).astimezone(dt.UTC)
            signed_at = opened + dt.timedelta(minutes=14)
            key_row, private = keys[doctor.id]
            visit_id = reference_id("visit", f"history:{patient.id}:{visit_no}")
            yield Visit(
                id=visit_id,
                patient_id=patient.id,
                campus_id=doctor.campus_id,
                department_id=doctor.department_id,
                doctor_id=doctor.id,
                source="walk_in",
                status="closed",
                visit_date=day,
                opened_at=opened,
                opened_by=doctor.id,
                updated_at=signed_at,
            )
            note = EmrNote(
                id=reference_id("emr_note", visit_id),
                campus_id=doctor.campus_id,
                visit_id=visit_id,
                patient_id=patient.id,
                doctor_id=doctor.id,
                department_id=doctor.department_id,
                chief_complaint=case.chief_complaint,
                present_illness=case.present_illness,
                allergy_history="、".join(patient.allergies) + "过敏"
                if patient.allergies
                else "否认药物过敏史",
                examination=case.examination,
                advice=case.advice,
                diagnoses=_diagnoses([case.diagnosis], icd_names),
                created_at=opened,
                saved_at=signed_at,
                updated_at=signed_at,
            )
            signature = _SIGNER.sign(private, canonical_bytes(note_signed_content(note, signed_at)))
            yield note.model_copy(
                update={
                    "status": "signed",
                    "signature": signature,
                    "signing_key_id": key_row.id,
                    "signed_at": signed_at,
                    "signature_algorithm": key_row.algorithm,
                }
            )
            code, result, flag = case.order
            item = items[code]
            yield ClinicalOrder(
                id=reference_id("clinical_order", visit_id),
                campus_id=doctor.campus_id,
                visit_id=visit_id,
                patient_id=patient.id,
                doctor_id=doctor.id,
                department_id=doctor.department_id,
                exam_item_id=item.id,
                item_code=item.code,
                item_name=item.name_zh,
                kind=item.kind,
                specimen_or_site=item.specimen_or_site,
                exec_department=item.department,
                price=item.price,
                status="resulted",
                ordered_at=opened + dt.timedelta(minutes=8),
                resulted_at=opened + dt.timedelta(hours=2),
                result_text=result,
                result_flag=flag,  # type: ignore[arg-type]
                updated_at=opened + dt.timedelta(hours=2),
            )
            rx = _history_rx(
                patient=patient,
                doctor=doctor,
                case=case,
                visit_id=visit_id,
                written_at=opened + dt.timedelta(minutes=12),
                number=rx_number(SEED_DEVICE, day, seq.setdefault(day, 0) + 1),
                drugs=drugs,
                frequencies=frequencies,
                routes=routes,
                icd_names=icd_names,
            )
            if rx is None:
                continue
            seq[day] += 1
            draft, lines = rx
            findings = check_prescription(draft)
            row = Prescription(
                id=draft.id,
                campus_id=doctor.campus_id,
                number=draft.number,
                visit_id=visit_id,
                patient_id=patient.id,
                doctor_id=doctor.id,
                department_id=doctor.department_id,
                pharmacy_id=_PHARMACY_OF_CAMPUS.get(doctor.campus_id),
                rx_type=draft.rx_type,
                day=day,
                written_at=draft.written_at,
                diagnoses=[d.model_dump(mode="json") for d in draft.diagnoses],
                lines=[line.model_dump(mode="json") for line in lines],
                total_amount=str(total_amount(lines)),
                acknowledgements=[
                    a.model_dump(mode="json") for a in acknowledge(findings, doctor.id, draft.written_at)
                ],
                patient_facts=draft.patient.model_dump(mode="json"),
                prescriber=draft.prescriber.model_dump(mode="json"),
                status="dispensed",
                signature="",
                signing_key_id=key_row.id,
                signed_at=signed_at,
                signature_algorithm=key_row.algorithm,
                sign_count=1,
                updated_at=signed_at + dt.timedelta(minutes=30),
            )
            content = canonical_bytes(rx_signed_content(row, signed_at))
            yield row.model_copy(update={"signature": _SIGNER.sign(private, content)})


_PHARMACY_OF_CAMPUS = {
    reference_id("campus", "MAIN"): reference_id("pharmacy", "MAIN-WY"),
    reference_id("campus", "EAST"): reference_id("pharmacy", "EAST-WY"),
}


def _history_rx(
    *,
    patient: Patient,
    doctor: Staff,
    case: _Case,
    visit_id: str,
    written_at: dt.datetime,
    number: str,
    drugs: dict[str, Drug],
    frequencies: dict[str, Frequency],
    routes: dict[str, Route],
    icd_names: dict[str, str],
) -> tuple[PrescriptionDraft, list[RxLine]] | None:
    """The case's prescription for this patient, or ``None`` when the checks would block it (allergy,
    age): the history only holds prescriptions ``rx.create`` would have accepted."""
    lines = [
        new_line(drugs[name], frequencies=frequencies, routes=routes, days=days) for name, days in case.drugs
    ]
    draft = PrescriptionDraft(
        id=reference_id("rx", visit_id),
        number=number,
        rx_type="ordinary",
        patient=PatientFacts.from_patient(
            patient, weight_kg=Decimal("20") if _is_child(patient, written_at) else None
        ),
        prescriber=PrescriberFacts.from_staff(doctor),
        visit_id=visit_id,
        diagnoses=(DiagnosisFacts(code=case.diagnosis, name=icd_names[case.diagnosis]),),
        written_at=written_at,
        lines=tuple(lines),
    )
    if blocking(check_prescription(draft)):
        return None
    return draft, lines


def _is_child(patient: Patient, at: dt.datetime) -> bool:
    return (at.date() - patient.birth_date).days < 14 * 365


def demo_entities(
    *,
    staff: Sequence[Staff],
    departments: Sequence[Department],
    patients: Sequence[Patient],
    appointments: Sequence[Appointment],
    today: dt.date,
    tz: ZoneInfo,
) -> Iterator[Entity]:
    """Everything above, for ``server_stub.seed.demo``."""
    drugs = {d.generic_name: d for d in reference.drugs()}
    items = {i.code: i for i in reference.exam_items()}
    icd_names = {d.code: d.name_zh for d in reference.diagnoses()}
    yield from templates(staff, departments, icd_names)
    yield from order_sets(staff, drugs, items)
    registered_at = dt.datetime.combine(today - dt.timedelta(days=365), dt.time(9), tz).astimezone(dt.UTC)
    keys = signing_keys(staff, registered_at=registered_at)
    yield from (row for row, _ in keys.values())
    yield from history(
        staff=staff,
        departments=departments,
        patients=patients,
        appointments=appointments,
        keys=keys,
        drugs=drugs,
        items=items,
        icd_names=icd_names,
        today=today,
        tz=tz,
    )
