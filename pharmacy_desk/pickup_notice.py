"""Getting a pickup code to the patient once it is issued (approval, payment, reissue): a pickup slip on
the receipt printer and a text message through the SMS adapter.

Before this the code was shown only to the pharmacist, so a patient at a pharmacy that does not take
payment first never had it. ``hand_to_patient`` runs from the GUI thread: the slip and the message are
built on the database thread, the slip goes to the print queue (spooled, recorded with ``print.record``
as a ``receipt`` of the prescription) and the message is sent on a worker thread. A pharmacy without
pickup codes (``Pharmacy.pickup_code_required`` off) issues none, so nothing is handed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject

from pharmacy_desk import actions
from pharmacy_desk.documents import hospital_name, pharmacy_name, pickup_slip_bytes, pickup_slip_for
from pharmacy_desk.texts import t
from shared import clinic_time
from shared.adapters.sms import SmsMessage, normalize_mobile, pickup_code_text
from shared.domain.entities import Patient, PickupCodeState, Prescription
from shared.domain.masking import mask_phone
from shared.errors import SuiteError
from shared.gui.ops import QueryOp
from shared.gui.workers import run_in_background

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    rx_id: str
    rx_number: str
    slip: bytes
    reprint: bool
    phone: str | None  # a mobile number, or None when the patient has none on record
    text: str


def prepare(store: Any, rx_id: str, code: str, *, paper: str, encoding: str, now: Any) -> Notice:
    """The slip's bytes and the message for ``code`` (database thread)."""
    rx = store.get(Prescription, rx_id)
    if rx is None:
        raise SuiteError(rx_id, code="not_found")
    patient = store.get(Patient, rx.patient_id)
    state = next(iter(store.find(PickupCodeState, rx_id=rx_id)), None)
    until = clinic_time.local(state.expires_at) if state is not None else None
    hospital, pharmacy = hospital_name(store, rx), pharmacy_name(store, rx.pharmacy_id)
    slip = pickup_slip_for(
        rx,
        patient.name if patient else "",
        code,
        hospital=hospital,
        pharmacy=pharmacy,
        now=now,
        valid_until=until,
        reprint=actions.printed_before(store, "receipt", rx_id),
    )
    text = pickup_code_text(
        hospital=hospital,
        pharmacy=pharmacy,
        rx_number=rx.number,
        code=code,
        valid_until=f"{until:%m-%d %H:%M}" if until else "",
    )
    return Notice(
        rx.id,
        rx.number,
        pickup_slip_bytes(slip, paper=paper, encoding=encoding),
        slip.reprint,
        normalize_mobile(patient.phone if patient else None),
        text,
    )


def hand_to_patient(state: Any, parent: QObject, rx_id: str, code: str) -> None:
    """Print the pickup slip and text the code to the patient's phone (GUI thread; returns at once)."""
    if not code:
        return
    lang = state.lang
    setting = state.print_queue.setting_for("receipt")
    now = state.now()

    def ready(notice: Notice) -> None:
        # the text goes once the slip's job is done, so its message (which names the slip) is the last word
        state.print_document(
            "receipt",
            notice.rx_number,
            "escpos",
            notice.slip,
            ref_id=notice.rx_id,
            reprint=notice.reprint,
            on_done=lambda job: text(notice, job.state == "sent"),
        )

    def text(notice: Notice, slip_printed: bool) -> None:
        if notice.phone is None:
            key = "pickup.sms_no_phone" if slip_printed else "pickup.nothing_reached"
            state.message(t(key, lang, number=notice.rx_number, code=code), "warning")
            return
        gateway = state.sms_gateway
        message = SmsMessage(notice.phone, notice.text, ref=notice.rx_id)
        key = "pickup.sms_sent" if slip_printed else "pickup.sms_sent_no_slip"
        run_in_background(
            lambda: gateway.send(message),
            on_success=lambda receipt: state.message(
                t(key, lang, number=notice.rx_number, code=code, phone=receipt.to_masked),
                "ok" if slip_printed else "warning",
            ),
            on_failure=lambda error: sms_failed(notice, error),
            label="pickup-sms",
        )

    def sms_failed(notice: Notice, error: BaseException) -> None:
        reason = error.message if isinstance(error, SuiteError) else str(error)
        log.warning(
            "pickup code text for %s to %s not sent: %s",
            notice.rx_number,
            mask_phone(notice.phone or ""),
            reason,
        )
        state.message(
            t("pickup.sms_failed", lang, number=notice.rx_number, code=code, reason=reason), "warning"
        )

    def failed(error: BaseException) -> None:
        reason = error.message if isinstance(error, SuiteError) else str(error)
        state.message(t("pickup.slip_failed", lang, reason=reason), "error")

    QueryOp(
        parent=parent,
        op=lambda store: prepare(
            store, rx_id, code, paper=setting.paper or "80mm", encoding=setting.encoding, now=now
        ),
        success=ready,
    ).failure(failed).run_in_background()
