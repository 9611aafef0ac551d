"""Personal signing keys: PIN-sealed Ed25519, PIN change, admin reset, canonical bytes of a prescription."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from shared.domain.prescribing import PrescriptionDraft, edit_line
from shared.errors import AuthFailed, ValidationFailed
from shared.security.signing import (
    BadSignature,
    EncryptedKey,
    WrongPin,
    admin_reset,
    canonical_bytes,
    change_pin,
    fingerprint,
    generate_keypair,
    require_valid,
    sign,
    verify,
)
from tests.shared.domain.rx_fixtures import draft, line

PIN = "246810"


@pytest.fixture(scope="module")
def key() -> EncryptedKey:
    return generate_keypair(PIN)


def test_a_signature_over_the_canonical_prescription_verifies_with_the_public_key(key: EncryptedKey) -> None:
    rx = draft(line("阿莫西林胶囊", days=7), line("布洛芬缓释胶囊"))
    signature = sign(canonical_bytes(rx), key, PIN)
    assert verify(canonical_bytes(rx), signature, key.public_key)
    require_valid(canonical_bytes(rx), signature, key.public_key)


def test_any_change_to_a_signed_field_breaks_the_signature(key: EncryptedKey) -> None:
    rx = draft(line("阿莫西林胶囊", days=7))
    signature = sign(canonical_bytes(rx), key, PIN)
    changed = rx.model_copy(update={"lines": (edit_line(rx.lines[0], days=6),)})
    assert not verify(canonical_bytes(changed), signature, key.public_key)
    with pytest.raises(BadSignature) as caught:
        require_valid(canonical_bytes(changed), signature, key.public_key)
    assert caught.value.code == "bad_signature"
    other = generate_keypair("135791")
    assert not verify(canonical_bytes(rx), signature, other.public_key)
    assert not verify(canonical_bytes(rx), "not base64!", key.public_key)


def test_a_wrong_pin_is_a_clear_auth_error(key: EncryptedKey) -> None:
    with pytest.raises(WrongPin) as caught:
        sign(b"x", key, "000000", lang="en")
    assert isinstance(caught.value, AuthFailed)
    assert caught.value.code == "wrong_pin"
    assert caught.value.message == "Wrong signing PIN"


def test_a_short_pin_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        generate_keypair("1234")
    assert caught.value.code == "weak_pin"


def test_the_key_at_rest_holds_no_plain_private_key_and_round_trips_through_json(key: EncryptedKey) -> None:
    again = EncryptedKey.model_validate_json(key.model_dump_json())
    assert again == key
    assert "PRIVATE" not in key.model_dump_json()
    assert verify(b"data", sign(b"data", again, PIN), key.public_key)


def test_changing_the_pin_keeps_the_key_pair(key: EncryptedKey) -> None:
    changed = change_pin(key, PIN, "97531024")
    assert changed.public_key == key.public_key
    assert changed.ciphertext != key.ciphertext
    assert verify(b"rx", sign(b"rx", changed, "97531024"), key.public_key)
    with pytest.raises(WrongPin):
        sign(b"rx", changed, PIN)
    with pytest.raises(WrongPin):
        change_pin(key, "wrong-pin", "11223344")


def test_an_admin_reset_makes_a_new_key_and_names_the_old_one_revoked(key: EncryptedKey) -> None:
    rotation = admin_reset("55667788", revoked_public_key=key.public_key)
    assert rotation.key.public_key != key.public_key
    assert rotation.revoked_public_key == key.public_key
    assert rotation.revoked_fingerprint == key.fingerprint
    signature = sign(b"rx", rotation.key, "55667788")
    assert verify(b"rx", signature, rotation.key.public_key)
    assert not verify(b"rx", signature, key.public_key)


def test_a_fingerprint_is_grouped_hex_of_the_public_key(key: EncryptedKey) -> None:
    groups = fingerprint(key.public_key).split(" ")
    assert len(groups) == 8 and all(len(g) == 4 and g == g.upper() for g in groups)
    assert fingerprint(key.public_key) != fingerprint(generate_keypair("864209").public_key)


def test_canonical_bytes_are_sorted_compact_utf8_json_with_normalised_decimals() -> None:
    data = {"b": Decimal("0.50"), "a": "阿莫西林", "c": [Decimal("320"), dt.date(2026, 11, 22)]}
    assert canonical_bytes(data) == '{"a":"阿莫西林","b":"0.5","c":["320","2026-11-22"]}'.encode()
    assert canonical_bytes({"x": Decimal("1.0")}) == canonical_bytes({"x": Decimal("1")})
    with pytest.raises(TypeError):
        canonical_bytes({"x": 0.5})


def test_a_draft_reread_from_json_signs_the_same_bytes() -> None:
    rx = draft(line("阿莫西林胶囊", days=7))
    stored = json.loads(rx.model_dump_json())
    stored["lines"][0]["dose"] = "0.500"  # a database may give the decimal back with more zeros
    again = PrescriptionDraft.model_validate(stored)
    assert canonical_bytes(again) == canonical_bytes(rx)
    signed = json.loads(canonical_bytes(rx))
    assert set(signed) == {"doc", "v", "id", "number", "rx_type", "visit_id", "written_at", "patient", "prescriber",
                           "diagnoses", "lines"}  # fmt: skip
    assert "price" not in json.dumps(signed)
