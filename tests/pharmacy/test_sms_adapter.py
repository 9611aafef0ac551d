"""The SMS adapter's local stub: one JSON line per message in a file, mobile numbers checked, idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.adapters.sms import FileSmsGateway, SmsFailed, SmsMessage, normalize_mobile, pickup_code_text


def test_a_message_is_written_once_and_the_receipt_masks_the_number(tmp_path: Path) -> None:
    gateway = FileSmsGateway(tmp_path / "sms" / "outbox.jsonl")
    text = pickup_code_text(
        hospital="华安市第一人民医院", pharmacy="门诊西药房", rx_number="R261206-0001", code="482913"
    )
    receipt = gateway.send(SmsMessage("+86 138-1234-5678", text, ref="rx-1"))
    again = gateway.send(SmsMessage("13812345678", text, ref="rx-1"))
    assert receipt.to_masked == "138****5678" and again.message_id == receipt.message_id
    lines = (tmp_path / "sms" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["to"] == "13812345678" and "482913" in record["text"] and record["ref"] == "rx-1"
    assert len(text) <= 70, "one SMS"


def test_a_number_that_is_not_a_mobile_is_refused(tmp_path: Path) -> None:
    gateway = FileSmsGateway(tmp_path / "outbox.jsonl")
    with pytest.raises(SmsFailed):
        gateway.send(SmsMessage("010-12345678", "x", ref="rx-1"))
    assert normalize_mobile(None) is None and normalize_mobile("12812345678") is None
    assert not (tmp_path / "outbox.jsonl").exists()
