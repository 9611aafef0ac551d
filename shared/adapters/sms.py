"""Text messages to patients: the SMS adapter interface and its local stub, which writes to a file.

The apps never talk to an SMS provider directly: they build an ``SmsMessage`` and hand it to an
``SmsGateway``. A real provider's adapter implements ``send``; ``FileSmsGateway`` (the default, and what
tests and the demo use) appends each message as one JSON line to a file, as an outbox a person or a
relay can read. ``send`` may block (network): call it off the GUI thread. It raises ``SmsFailed`` when
the message was not accepted; nothing is retried here (the desk says so and the slip still carries the
code).

Phone numbers are logged masked only; the text (which may carry a pickup code) is never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from shared import clinic_time
from shared.domain.masking import mask_phone
from shared.errors import SuiteError

log = logging.getLogger(__name__)

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class SmsFailed(SuiteError):
    """The gateway did not accept the message (no number, a bad number, the provider refused)."""

    code = "sms_failed"


@dataclass(frozen=True)
class SmsMessage:
    """One text to one phone. ``ref`` names what it is about (a prescription id) for the provider's
    records and for idempotency: sending the same ``ref`` and text twice is one message."""

    to: str
    text: str
    ref: str = ""


@dataclass(frozen=True)
class SmsReceipt:
    message_id: str
    to_masked: str
    sent_at: dt.datetime


class SmsGateway(Protocol):
    def send(self, message: SmsMessage) -> SmsReceipt: ...


def normalize_mobile(phone: str | None) -> str | None:
    """A mainland mobile number (11 digits, 1[3-9]…) without spaces, dashes or +86; None if it is not one."""
    digits = re.sub(r"[\s\-()]", "", phone or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    return digits if _MOBILE.match(digits) else None


class FileSmsGateway:
    """The local stub: each accepted message becomes one JSON line in ``path`` (created on first use).
    Thread-safe; a message with a ``ref`` and text already written is not written again."""

    def __init__(self, path: Path, *, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._clock = clock or clinic_time.now

    def send(self, message: SmsMessage) -> SmsReceipt:
        to = normalize_mobile(message.to)
        if to is None:
            raise SmsFailed(f"not a mobile number: {mask_phone(message.to or '')}", code="sms_bad_number")
        if not message.text.strip():
            raise SmsFailed("empty message", code="sms_empty")
        key = f"{message.ref}|{to}|{message.text}"
        with self._lock:
            for line in self._lines():
                if line.get("key") == key:
                    return SmsReceipt(
                        str(line["message_id"]), mask_phone(to), dt.datetime.fromisoformat(line["sent_at"])
                    )
            sent_at = self._clock()
            count = len(self._lines())
            message_id = f"SMS{sent_at:%Y%m%d%H%M%S}-{count + 1:05d}"
            record = {
                **asdict(message),
                "to": to,
                "key": key,
                "message_id": message_id,
                "sent_at": sent_at.isoformat(),
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        log.info("sms %s to %s (%s)", message_id, mask_phone(to), message.ref)
        return SmsReceipt(message_id, mask_phone(to), sent_at)

    def sent(self) -> list[SmsMessage]:
        """What was written so far (the stub's record, for tests and the demo)."""
        return [SmsMessage(line["to"], line["text"], line.get("ref", "")) for line in self._lines()]

    def _lines(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        return [
            json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]


def pickup_code_text(
    *, hospital: str, pharmacy: str, rx_number: str, code: str, valid_until: str = ""
) -> str:
    """The patient's text: where to collect and the code (kept short: one SMS is 70 Chinese characters)."""
    until = f"，{valid_until}前有效" if valid_until else ""
    return f"【{hospital}】您的处方{rx_number[-4:]}已审核，请到{pharmacy}取药，取药码{code}{until}。请勿告知他人。"
