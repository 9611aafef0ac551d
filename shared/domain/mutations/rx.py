"""Prescription and signing-key mutations of the doctor's workstation.

Times are aware datetimes (ISO text on the wire); ids are client-made uuids. Roles: doctors write
prescriptions; pharmacists read them (and review with ``rx.review``, pharmacy module); admins revoke keys.

``rx.create`` — ``CreateRx`` (doctor): ``id``, ``number`` (from ``clinical.next_rx_number(numbers the
  local view knows for the day, store.device_id, day)``; carries the PC's tag, never changed by the
  server), ``visit_id`` (optional), ``patient_id``, ``pharmacy_id`` (optional), ``rx_type`` ("ordinary",
  "emergency", "paediatric", "chronic", "narcotic", "psychotropic2", "toxic"), ``written_at`` (aware),
  ``patient`` (``prescribing.PatientFacts`` JSON as the doctor saw it, with weight), ``diagnoses``
  (``DiagnosisFacts``: ``code``, ``name``), ``lines`` (``RxLine.model_dump(mode="json")`` each; one
  prescription's lines — split first with ``prescribing.split_lines``), ``acknowledgements``
  (``rx_checks.Acknowledgement`` JSON for every warning), ``renewed_from_id`` (optional).
  Each line is stored at the drug's price in effect at ``written_at`` (``prices.price_at``; never later
  than the server received it), not the price the PC sent. The handler re-runs ``rx_checks.check_prescription``
  by the rules in effect at that same moment (``rx_rule_sets.rules_at``) with the drugs' current facts and the patient's
  current allergies added: a blocking finding or an unacknowledged warning refuses it (``rx_blocked`` /
  ``rx_unacknowledged``, ``detail`` = the findings). The new row has status ``draft``; result
  ``{"rx_id", "number", "total_amount"}``.
``rx.sign`` — ``SignRx`` (doctor, own prescription): ``rx_id``, ``signing_key_id`` (own key registered
  for this PC), ``signed_at`` (aware), ``algorithm`` (the key's provider, default "ed25519"),
  ``signature`` over ``signing.canonical_bytes(clinical.rx_signed_content(row, signed_at))`` (the
  ``PrescriptionDraft`` sent to ``rx.create`` plus the signing time). Every rule of
  ``shared.domain.signatures`` applies (``signature_checks.require_signature``): the key registered
  before and not revoked at ``signed_at``, a time the PC can have signed at (not after the server's
  receive time, not before this PC's last contact, give or take 5 minutes), a signature that verifies.
  draft → signed; ``sign_count`` + 1.
``rx.cancel`` — ``CancelRx`` (the prescribing doctor only): ``rx_id``, ``reason``. Refused once
  anything was dispensed (``partly_dispensed``, ``dispensed``, ``refunded``) or when already cancelled.
``rx.amend`` — ``AmendRx`` (own prescription in ``draft`` or ``rejected``; send ``base_version``):
  ``rx_id``, ``lines``, ``acknowledgements``, optional ``rx_type``, ``diagnoses``, ``patient``. Checks run
  again; the row goes back to ``draft`` with its signature cleared (the pharmacist's rejection reason
  stays on the row); sign it again with ``rx.sign``.
``signing_key.register`` — ``RegisterKey`` (doctor, pharmacist, admin: their own key for the PC that
  pushes it): ``id``, ``algorithm`` (a provider of ``shared.security.providers``, default "ed25519"),
  ``public_key``, ``proof`` = signature with that key of
  ``canonical_bytes(clinical.key_registration_content(own staff id, public_key))``. Only the public key
  is kept (the private key stays in the PC's OS key store); the row records the PC (``device_id``,
  from the token) and ``registered_at`` (the server's time: signatures claiming an earlier time are
  refused, so the apps register while online and sign after the server confirmed). A person has one
  key per PC: an earlier unrevoked key of the same person on the same PC is revoked in the same step.
``signing_key.revoke`` — ``RevokeKey`` (the key's owner, or an admin): ``key_id``, ``reason``. The key
  stops signing from now; signatures made before still verify against it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import cast

from pydantic import Field, ValidationError, field_validator

from shared.domain import signatures
from shared.domain.clinical import (
    device_tag,
    key_registration_content,
    parse_rx_number,
    rx_signed_content,
)
from shared.domain.entities import (
    Drug,
    Patient,
    Pharmacy,
    Prescription,
    Role,
    SigningKey,
    Staff,
    Visit,
)
from shared.domain.mutations.base import (
    CampusOf,
    Effect,
    Id,
    InHandler,
    MutationArgs,
    MutationContext,
    NoCampus,
    OptionalId,
    OwnedBy,
    Reason,
    Rejected,
    Shared,
    StateReader,
    check_base_version,
    declare_claims,
    mutation,
    next_version,
    require,
)
from shared.domain.mutations.signature_checks import refusal, require_signature
from shared.domain.prescribing import (
    DiagnosisFacts,
    DrugFacts,
    PatientFacts,
    PrescriberFacts,
    PrescriptionDraft,
    RxLine,
    total_amount,
)
from shared.domain.prices import price_at
from shared.domain.rx_checks import Acknowledgement, Finding, check_prescription, ensure_signable
from shared.domain.rx_rule_sets import rules_for
from shared.domain.rx_rules import RxType
from shared.errors import BusinessRuleViolation, ValidationFailed
from shared.i18n import register, state_name, tr
from shared.security.providers import DEFAULT_ALGORITHM, key_fingerprint, provider_for
from shared.security.signing import canonical_bytes

WRITER_ROLES: tuple[Role, ...] = ("doctor",)
KEY_ROLES: tuple[Role, ...] = ("doctor", "pharmacist", "admin")
# a prescription in one of these has had drugs handed out: it can no longer be cancelled or amended
DISPENSED = frozenset({"partly_dispensed", "dispensed", "refunded"})

_MESSAGES: dict[str, tuple[str, str, str]] = {
    "rx.duplicate": ("处方 {id} 已存在", "Prescription {id} already exists", "處方 {id} 已存在"),
    "rx.bad_number": (
        "处方号 {number} 格式不正确",
        "The prescription number {number} is malformed",
        "處方號 {number} 格式不正確",
    ),
    "rx.foreign_number": (
        "处方号 {number} 不属于本机（本机编码 {tag}）",
        "The prescription number {number} does not belong to this PC (its tag is {tag})",
        "處方號 {number} 不屬於本機（本機編碼 {tag}）",
    ),
    "rx.number_taken": (
        "处方号 {number} 已被使用，请重新开具",
        "The prescription number {number} is already used; write the prescription again",
        "處方號 {number} 已被使用，請重新開具",
    ),
    "rx.patient_mismatch": (
        "处方中的患者与就诊记录不一致",
        "The prescription's patient does not match the visit",
        "處方中的患者與就診記錄不一致",
    ),
    "rx.patient_changed": (
        "患者 {name} 的基本信息在开方后已修改，请核对处方",
        "The details of {name} changed after the prescription was written; check it",
        "患者 {name} 的基本資料在開方後已修改，請核對處方",
    ),
    "rx.visit_withdrawn": (
        "该就诊已退诊，不能开具处方",
        "This visit was withdrawn; no prescription can be written",
        "該就診已退診，不能開具處方",
    ),
    "rx.not_a_prescriber": (
        "{name} 不是医生，不能开具处方",
        "{name} is not a doctor and cannot prescribe",
        "{name} 不是醫師，不能開具處方",
    ),
    "rx.no_campus": (
        "无法确定处方所属院区，请先选择院区登录",
        "The prescription's campus is unknown; log in to a campus first",
        "無法確定處方所屬院區，請先選擇院區登入",
    ),
    "rx.unknown_drug": (
        "药品 {drug} 不在药品目录中或已停用",
        "The drug {drug} is not in the formulary or was withdrawn",
        "藥品 {drug} 不在藥品目錄中或已停用",
    ),
    "rx.not_yours": (
        "处方 {number} 不是您开具的",
        "Prescription {number} was written by another doctor",
        "處方 {number} 不是您開具的",
    ),
    "rx.bad_status": (
        "处方 {number} 当前状态为 {status}，不能{action}",
        "Prescription {number} is {status} and cannot be {action}",
        "處方 {number} 當前狀態為 {status}，不能{action}",
    ),
    "rx.action.sign": ("签名", "signed", "簽名"),
    "rx.action.cancel": ("作废", "cancelled", "作廢"),
    "rx.action.amend": ("修改", "amended", "修改"),
    "rx.no_snapshot": (
        "处方 {number} 缺少开具时的患者和医生信息，请重新开具",
        "Prescription {number} lacks the patient and prescriber facts it was written with; write it again",
        "處方 {number} 缺少開具時的患者和醫師資料，請重新開具",
    ),
    "rx.naive_time": (
        "时间必须带时区",
        "Times must carry a time zone",
        "時間必須帶時區",
    ),
    "signing.unknown_key": (
        "签名密钥未登记或不属于您",
        "The signing key is not registered or is not yours",
        "簽名密鑰未登記或不屬於您",
    ),
    "signing.key_revoked": (
        "签名密钥已于 {at} 吊销，请重新设置签名 PIN",
        "The signing key was revoked at {at}; set up a new signing PIN",
        "簽名密鑰已於 {at} 吊銷，請重新設定簽名 PIN",
    ),
    "signing.bad_public_key": (
        "公钥格式不正确",
        "The public key is malformed",
        "公鑰格式不正確",
    ),
    "signing.bad_proof": (
        "无法证明持有该密钥：登记签名验证失败",
        "The registration proof does not verify: the PC does not hold this key",
        "無法證明持有該密鑰：登記簽名驗證失敗",
    ),
    "signing.unknown_algorithm": (
        "服务器不支持签名算法 {algorithm}",
        "The server does not support the signature algorithm {algorithm}",
        "伺服器不支援簽名演算法 {algorithm}",
    ),
    "signing.replaced": (
        "本机已登记新的签名密钥",
        "replaced by a new key on this PC",
        "本機已登記新的簽名密鑰",
    ),
    "signing.key_known": (
        "该公钥已登记过",
        "This public key is already registered",
        "該公鑰已登記過",
    ),
    "signing.already_revoked": (
        "该签名密钥已吊销",
        "This signing key is already revoked",
        "該簽名密鑰已吊銷",
    ),
}
for _key, (_zh, _en, _tw) in _MESSAGES.items():
    register(_key, {"zh_CN": _zh, "en": _en, "zh_TW": _tw})


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(tr("rx.naive_time"))
    return value


# ---------------------------------------------------------------------------------------------- args


class CreateRx(MutationArgs):
    id: str = Id
    number: str = Field(min_length=1, max_length=32)
    visit_id: str | None = OptionalId
    patient_id: str = Id
    pharmacy_id: str | None = OptionalId
    rx_type: RxType = "ordinary"
    written_at: dt.datetime
    patient: PatientFacts
    diagnoses: list[DiagnosisFacts] = Field(default_factory=list, max_length=20)
    lines: list[RxLine] = Field(min_length=1, max_length=60)
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=60)
    renewed_from_id: str | None = OptionalId

    _written_at = field_validator("written_at")(_aware)


class SignRx(MutationArgs):
    rx_id: str = Id
    signing_key_id: str = Id
    signed_at: dt.datetime
    algorithm: str = Field(default=DEFAULT_ALGORITHM, min_length=1, max_length=15)
    signature: str = Field(min_length=1, max_length=200)

    _signed_at = field_validator("signed_at")(_aware)


class CancelRx(MutationArgs):
    rx_id: str = Id
    reason: str = Reason


class AmendRx(MutationArgs):
    rx_id: str = Id
    lines: list[RxLine] = Field(min_length=1, max_length=60)
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=60)
    rx_type: RxType | None = None
    diagnoses: list[DiagnosisFacts] | None = Field(default=None, max_length=20)
    patient: PatientFacts | None = None


class RegisterKey(MutationArgs):
    id: str = Id
    algorithm: str = Field(default=DEFAULT_ALGORITHM, min_length=1, max_length=15)
    public_key: str = Field(min_length=40, max_length=64)
    proof: str = Field(min_length=1, max_length=200)


class RevokeKey(MutationArgs):
    key_id: str = Id
    reason: str = Field(min_length=1, max_length=200)


# ------------------------------------------------------------------------------------------- helpers


def _refuse(problem: BusinessRuleViolation) -> Rejected:
    return Rejected(problem.message, code=problem.code, detail=problem.detail)


def _prescriber(state: StateReader, ctx: MutationContext) -> PrescriberFacts:
    staff = require(state, Staff, ctx.staff_id, ctx)
    if "doctor" not in staff.roles or not staff.active:
        raise Rejected(ctx.t("rx.not_a_prescriber", name=staff.name), code="not_a_prescriber")
    return PrescriberFacts.from_staff(staff)


def _priced_lines(
    state: StateReader, lines: list[RxLine], written_at: dt.datetime, ctx: MutationContext
) -> list[RxLine]:
    """The lines as stored: each at the drug's price in effect when the prescription was written
    (``prices.price_at``; never later than the server received it), whatever price the PC sent. The PC
    runs the same rule on its view, so both agree unless the PC had not yet heard of a price change."""
    moment = min(written_at, ctx.now)
    out: list[RxLine] = []
    for line in lines:
        drug = state.get(Drug, line.drug.id)
        if drug is None:
            raise Rejected(ctx.t("rx.unknown_drug", drug=line.drug.generic_name), code="unknown_drug")
        priced = line.drug.model_copy(update={"price": price_at(drug, moment)})
        out.append(line.model_copy(update={"drug": priced}))
    return out


def _checked_lines(state: StateReader, lines: list[RxLine], ctx: MutationContext) -> list[RxLine]:
    """The lines as the checks must see them: each drug's current facts from the formulary (a PC cannot
    talk a controlled drug into an ordinary one) and the override flag recomputed from the quantity."""
    out: list[RxLine] = []
    for line in lines:
        drug = state.get(Drug, line.drug.id)
        if drug is None or drug.voided:
            raise Rejected(ctx.t("rx.unknown_drug", drug=line.drug.generic_name), code="unknown_drug")
        facts = DrugFacts.from_drug(drug)
        current = line.model_copy(update={"drug": facts})
        try:
            computed = current.computed_quantity
        except ValidationFailed:  # a unit that cannot convert: the checks report it (rx.dose_unit)
            computed = line.quantity
        out.append(current.model_copy(update={"quantity_overridden": line.quantity != computed}))
    return out


def _run_checks(
    state: StateReader,
    *,
    rx_id: str,
    number: str,
    rx_type: RxType,
    patient: PatientFacts,
    prescriber: PrescriberFacts,
    visit_id: str | None,
    diagnoses: list[DiagnosisFacts],
    written_at: dt.datetime,
    lines: list[RxLine],
    acknowledgements: list[Acknowledgement],
    ctx: MutationContext,
) -> list[Finding]:
    """Re-run the shared checks as the server sees things; refuse blocks and unacknowledged warnings."""
    current = state.get(Patient, patient.id)
    allergies = tuple(dict.fromkeys([*patient.allergies, *(current.allergies if current else [])]))
    draft = PrescriptionDraft(
        id=rx_id,
        number=number,
        rx_type=rx_type,
        patient=patient.model_copy(update={"allergies": allergies}),
        prescriber=prescriber,
        visit_id=visit_id,
        diagnoses=tuple(diagnoses),
        written_at=written_at,
        lines=tuple(_checked_lines(state, lines, ctx)),
    )
    # the rules in effect when it was written (never later than the server received it), as for prices
    rules = rules_for(state, min(written_at, ctx.now))
    findings = check_prescription(draft, rules, lang=ctx.lang)
    mine = [a for a in acknowledgements if a.staff_id == ctx.staff_id]
    try:
        ensure_signable(findings, mine, lang=ctx.lang)
    except BusinessRuleViolation as problem:
        raise _refuse(problem) from problem
    return findings


def _own_rx(state: StateReader, rx_id: str, ctx: MutationContext) -> Prescription:
    rx = require(state, Prescription, rx_id, ctx)
    if rx.doctor_id != ctx.staff_id:
        raise Rejected(ctx.t("rx.not_yours", number=rx.number), code="not_your_prescription")
    return rx


def _bad_status(rx: Prescription, action: str, ctx: MutationContext) -> Rejected:
    return Rejected(
        ctx.t(
            "rx.bad_status",
            number=rx.number,
            status=state_name("prescription", rx.status, ctx.lang),
            action=ctx.t(f"rx.action.{action}"),
        ),
        code="bad_transition",
        detail={"status": rx.status},
    )


def signing_key_for(state: StateReader, key_id: str, at: dt.datetime, ctx: MutationContext) -> SigningKey:
    """The caller's own registered key, usable at ``at`` (``signatures.key_problem``)."""
    key = state.get(SigningKey, key_id)
    problem = signatures.key_problem(key, signer_id=ctx.staff_id, at=at)
    if problem is not None:
        raise refusal(problem, key, at, ctx)
    assert key is not None
    return key


def _patient_changed(patient: PatientFacts, current: Patient) -> bool:
    return (patient.name, patient.sex, patient.birth_date) != (
        current.name,
        current.sex,
        current.birth_date,
    )


# ------------------------------------------------------------------------------------- prescriptions


@mutation(
    "rx.create",
    CreateRx,
    roles=WRITER_ROLES,
    summary="Record a checked prescription (draft).",
    reads_id_of="rx",
)
def create_rx(state: StateReader, args: CreateRx, ctx: MutationContext) -> Effect:
    if state.get(Prescription, args.id) is not None:
        raise Rejected(ctx.t("rx.duplicate", id=args.id), code="duplicate_id")
    parsed = parse_rx_number(args.number)
    if parsed is None:
        raise Rejected(ctx.t("rx.bad_number", number=args.number), code="bad_rx_number")
    day, tag, _ = parsed
    if tag != device_tag(ctx.device_id):
        raise Rejected(
            ctx.t("rx.foreign_number", number=args.number, tag=device_tag(ctx.device_id)),
            code="foreign_rx_number",
        )
    taken = [rx for rx in state.find(Prescription, number=args.number) if rx.id != args.id]
    if taken:
        raise Rejected(ctx.t("rx.number_taken", number=args.number), code="rx_number_taken")
    patient = require(state, Patient, args.patient_id, ctx)
    if args.patient.id != patient.id:
        raise Rejected(ctx.t("rx.patient_mismatch"), code="patient_mismatch")
    campus_id = ctx.campus_id
    department_id = None
    if args.visit_id:
        visit = require(state, Visit, args.visit_id, ctx)
        if visit.patient_id != patient.id:
            raise Rejected(ctx.t("rx.patient_mismatch"), code="patient_mismatch")
        if visit.status == "withdrawn":
            raise Rejected(ctx.t("rx.visit_withdrawn"), code="visit_withdrawn")
        campus_id, department_id = visit.campus_id, visit.department_id
    if not campus_id:
        raise Rejected(ctx.t("rx.no_campus"), code="no_campus")
    if args.pharmacy_id:
        require(state, Pharmacy, args.pharmacy_id, ctx)
    prescriber = _prescriber(state, ctx)
    _run_checks(
        state,
        rx_id=args.id,
        number=args.number,
        rx_type=args.rx_type,
        patient=args.patient,
        prescriber=prescriber,
        visit_id=args.visit_id,
        diagnoses=args.diagnoses,
        written_at=args.written_at,
        lines=args.lines,
        acknowledgements=args.acknowledgements,
        ctx=ctx,
    )
    lines = _priced_lines(state, args.lines, args.written_at, ctx)
    amount = total_amount(lines)
    rx = Prescription(
        id=args.id,
        campus_id=campus_id,
        number=args.number,
        visit_id=args.visit_id,
        patient_id=patient.id,
        doctor_id=ctx.staff_id,
        department_id=department_id,
        pharmacy_id=args.pharmacy_id,
        rx_type=args.rx_type,
        day=day,
        written_at=args.written_at,
        diagnoses=[d.model_dump(mode="json") for d in args.diagnoses],
        lines=[line.model_dump(mode="json") for line in lines],
        total_amount=str(amount),
        acknowledgements=[a.model_dump(mode="json") for a in args.acknowledgements],
        renewed_from_id=args.renewed_from_id,
        patient_facts=args.patient.model_dump(mode="json"),
        prescriber=prescriber.model_dump(mode="json"),
        status="draft",
        updated_at=ctx.now,
    )
    warnings = (
        [ctx.t("rx.patient_changed", name=patient.name)] if _patient_changed(args.patient, patient) else []
    )
    return Effect(
        writes=[rx],
        warnings=warnings,
        result={"rx_id": rx.id, "number": rx.number, "total_amount": str(amount)},
    )


@mutation("rx.sign", SignRx, roles=WRITER_ROLES, summary="Sign a draft prescription (Ed25519, verified).")
def sign_rx(state: StateReader, args: SignRx, ctx: MutationContext) -> Effect:
    rx = _own_rx(state, args.rx_id, ctx)
    if rx.status != "draft":
        raise _bad_status(rx, "sign", ctx)
    try:
        content = rx_signed_content(rx, args.signed_at)
    except ValidationError as error:  # a row written before snapshots existed cannot be signed again
        raise Rejected(ctx.t("rx.no_snapshot", number=rx.number), code="rx_without_snapshot") from error
    key = require_signature(
        state,
        key_id=args.signing_key_id,
        at=args.signed_at,
        content=content,
        signature=args.signature,
        algorithm=args.algorithm,
        ctx=ctx,
    )
    signed = next_version(
        rx,
        ctx,
        status="signed",
        signature=args.signature,
        signing_key_id=key.id,
        signed_at=args.signed_at,
        signature_algorithm=key.algorithm,
        sign_count=rx.sign_count + 1,
    )
    return Effect(
        writes=[signed],
        result={"rx_id": rx.id, "number": rx.number, "status": "signed", "fingerprint": key.fingerprint},
    )


@mutation("rx.cancel", CancelRx, roles=("doctor",), summary="Cancel one's own prescription (with reason).")
def cancel_rx(state: StateReader, args: CancelRx, ctx: MutationContext) -> Effect:
    rx = require(state, Prescription, args.rx_id, ctx)
    if rx.doctor_id != ctx.staff_id:
        raise Rejected(ctx.t("rx.not_yours", number=rx.number), code="not_your_prescription")
    if rx.status in DISPENSED or rx.status == "cancelled":
        raise _bad_status(rx, "cancel", ctx)
    cancelled = next_version(rx, ctx, status="cancelled", cancel_reason=args.reason)
    return Effect(writes=[cancelled], result={"rx_id": rx.id, "status": "cancelled"})


@mutation("rx.amend", AmendRx, roles=WRITER_ROLES, summary="Change a draft or rejected prescription.")
def amend_rx(state: StateReader, args: AmendRx, ctx: MutationContext) -> Effect:
    rx = _own_rx(state, args.rx_id, ctx)
    check_base_version(rx, ctx)
    if rx.status not in ("draft", "rejected"):
        raise _bad_status(rx, "amend", ctx)
    rx_type = args.rx_type or cast(RxType, rx.rx_type)
    if args.patient is None and not rx.patient_facts:
        raise Rejected(ctx.t("rx.no_snapshot", number=rx.number), code="rx_without_snapshot")
    patient = args.patient or PatientFacts.model_validate(rx.patient_facts)
    if patient.id != rx.patient_id:
        raise Rejected(ctx.t("rx.patient_mismatch"), code="patient_mismatch")
    diagnoses = (
        args.diagnoses
        if args.diagnoses is not None
        else [DiagnosisFacts.model_validate(d) for d in rx.diagnoses]
    )
    prescriber = _prescriber(state, ctx)
    _run_checks(
        state,
        rx_id=rx.id,
        number=rx.number,
        rx_type=rx_type,
        patient=patient,
        prescriber=prescriber,
        visit_id=rx.visit_id,
        diagnoses=diagnoses,
        written_at=rx.written_at,
        lines=args.lines,
        acknowledgements=args.acknowledgements,
        ctx=ctx,
    )
    lines = _priced_lines(state, args.lines, rx.written_at, ctx)
    amount: Decimal = total_amount(lines)
    amended = next_version(
        rx,
        ctx,
        status="draft",
        rx_type=rx_type,
        lines=[line.model_dump(mode="json") for line in lines],
        diagnoses=[d.model_dump(mode="json") for d in diagnoses],
        patient_facts=patient.model_dump(mode="json"),
        prescriber=prescriber.model_dump(mode="json"),
        acknowledgements=[a.model_dump(mode="json") for a in args.acknowledgements],
        total_amount=str(amount),
        signature="",
        signing_key_id=None,
        signed_at=None,
        signature_algorithm="",
    )
    return Effect(
        writes=[amended],
        result={"rx_id": rx.id, "number": rx.number, "status": "draft", "total_amount": str(amount)},
    )


# ------------------------------------------------------------------------------------- signing keys


@mutation("signing_key.register", RegisterKey, roles=KEY_ROLES, summary="Register one's key for this PC.")
def register_key(state: StateReader, args: RegisterKey, ctx: MutationContext) -> Effect:
    if state.get(SigningKey, args.id) is not None:
        raise Rejected(ctx.t("signing.key_known"), code="duplicate_id")
    staff = require(state, Staff, ctx.staff_id, ctx)
    provider = provider_for(args.algorithm)
    if provider is None:
        raise Rejected(
            ctx.t("signing.unknown_algorithm", algorithm=args.algorithm), code="unknown_signature_algorithm"
        )
    if not provider.valid_public_key(args.public_key):
        raise Rejected(ctx.t("signing.bad_public_key"), code="bad_public_key")
    key_print = key_fingerprint(args.public_key)
    proof = canonical_bytes(key_registration_content(staff.id, args.public_key))
    if not provider.verify(args.public_key, proof, args.proof):
        raise Rejected(ctx.t("signing.bad_proof"), code="bad_key_proof")
    for other in state.find(SigningKey, fingerprint=key_print):
        if other.public_key == args.public_key:
            raise Rejected(ctx.t("signing.key_known"), code="signing_key_known")
    key = SigningKey(
        id=args.id,
        staff_id=staff.id,
        algorithm=args.algorithm,
        public_key=args.public_key,
        fingerprint=key_print,
        registered_at=ctx.now,
        device_id=ctx.device_id,
        updated_at=ctx.now,
    )
    replaced = [
        next_version(other, ctx, revoked_at=ctx.now, revoked_reason=ctx.t("signing.replaced"))
        for other in state.find(SigningKey, staff_id=staff.id)
        if not other.voided and other.revoked_at is None and other.device_id == ctx.device_id
    ]
    return Effect(
        writes=[key, *replaced],
        result={"key_id": key.id, "fingerprint": key_print, "replaced": [r.id for r in replaced]},
    )


@mutation(
    "signing_key.revoke", RevokeKey, roles=KEY_ROLES, summary="Revoke a signing key (its owner or an admin)."
)
def revoke_key(state: StateReader, args: RevokeKey, ctx: MutationContext) -> Effect:
    key = require(state, SigningKey, args.key_id, ctx)
    if key.staff_id != ctx.staff_id and "admin" not in ctx.roles:
        raise Rejected(ctx.t("signing.unknown_key"), code="bad_signing_key")
    if key.revoked_at is not None:
        raise Rejected(ctx.t("signing.already_revoked"), code="already_revoked")
    revoked = next_version(key, ctx, revoked_at=ctx.now, revoked_reason=args.reason)
    return Effect(writes=[revoked], result={"key_id": key.id, "revoked_at": ctx.now.isoformat()})


# Where each mutation's objects are and whose they are (checked before the handler; see base.py).
_OWN_RX = OwnedBy("only the prescribing doctor", rx_id=(Prescription, "doctor_id"))
_PERSONAL = NoCampus("a signing key is its person's, at every campus")
declare_claims(
    {
        "rx.create": (
            CampusOf(caller=True, visit_id=Visit, pharmacy_id=Pharmacy),
            Shared("any doctor at the campus prescribes; the prescription is theirs"),
        ),
        "rx.sign": (CampusOf(rx_id=Prescription), _OWN_RX),
        "rx.cancel": (CampusOf(rx_id=Prescription), _OWN_RX),
        "rx.amend": (CampusOf(rx_id=Prescription), _OWN_RX),
        "signing_key.register": (_PERSONAL, InHandler("one registers one's own key, proved by a signature")),
        "signing_key.revoke": (_PERSONAL, InHandler("the key's owner, or an admin, revokes it")),
    }
)
