"""This PC's signing keys in the OS key store (a file-backed keyring here): sealed under argon2id, bound
to the person and PC, an attempt limit that erases the key, a PIN policy; and the provider adapter
behind every sign and verify call (a second algorithm plugs in without touching the rules)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from shared.domain import signatures
from shared.domain.entities import SigningKey
from shared.errors import ValidationFailed
from shared.security.device_keys import (
    MAX_ATTEMPTS,
    DeviceKeys,
    KdfParams,
    KeyWiped,
    NoKeyStore,
    check_pin_policy,
)
from shared.security.providers import KeyPair, key_fingerprint, register_provider, verify_signature
from shared.security.signing import WrongPin
from tests.support.keyring_file import FileKeyring, file_keyring

FAST = KdfParams(time_cost=1, memory_kib=1024, parallelism=1)
PIN = "271828"
STAFF = "staff-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileKeyring]:
    with file_keyring(tmp_path / "keyring.json") as backend:
        yield backend


def keys(device: str = "pc-1", **kw: object) -> DeviceKeys:
    return DeviceKeys(device, kdf=kw.pop("kdf", FAST), **kw)  # type: ignore[arg-type]


def test_a_key_is_sealed_in_the_key_store_and_signs_for_its_public_key(store: FileKeyring) -> None:
    record, private = keys().create(STAFF, PIN, key_id="k1")
    raw = store.path.read_text(encoding="utf-8")
    assert base64.b64encode(private).decode() not in raw and PIN not in raw  # nothing in the clear
    entry = json.loads(next(iter(json.loads(raw).values())))
    assert entry["kdf_memory_kib"] == FAST.memory_kib and entry["format"].endswith("argon2id-aesgcm-v1")
    assert DeviceKeys("pc-1").kdf.memory_kib >= 64 * 1024  # the apps' default cost
    signature, again = keys().sign(STAFF, b"document", PIN)
    assert again.key_id == "k1" and verify_signature("ed25519", record.public_key, b"document", signature)
    assert not verify_signature("ed25519", record.public_key, b"other", signature)


def test_wrong_pins_count_in_the_key_store_across_restarts_and_the_last_one_erases_the_key(
    store: FileKeyring,
) -> None:
    keys().create(STAFF, PIN, key_id="k1")
    with pytest.raises(WrongPin) as first:
        keys().sign(STAFF, b"x", "000001")
    assert first.value.detail == {"attempts_left": MAX_ATTEMPTS - 1}
    keys().sign(STAFF, b"x", PIN)  # a right PIN resets the count
    assert keys().attempts_left(STAFF) == MAX_ATTEMPTS
    for n in range(MAX_ATTEMPTS - 1):
        with pytest.raises(WrongPin):
            DeviceKeys("pc-1", kdf=FAST).sign(STAFF, b"x", f"99999{n}")  # a new instance: a restarted app
    with pytest.raises(KeyWiped):
        keys().sign(STAFF, b"x", "999990")
    assert keys().load(STAFF) is None
    assert "k1" not in store.path.read_text(encoding="utf-8")
    with pytest.raises(Exception) as gone:
        keys().sign(STAFF, b"x", PIN)  # even the right PIN: the key is gone, register a new one
    assert getattr(gone.value, "code", "") == "no_signing_key"


def test_a_key_opens_only_for_its_person_and_pc(store: FileKeyring) -> None:
    keys("pc-1").create(STAFF, PIN, key_id="k1")
    assert keys("pc-2").load(STAFF) is None and keys("pc-1").load("staff-2") is None
    # an entry copied under another PC's account (a copied key store) does not open there
    text = store.get_password("ClinicSuite signing", f"pc-1/{STAFF}")
    assert text is not None
    moved = json.loads(text) | {"device_id": "pc-2"}
    store.set_password("ClinicSuite signing", f"pc-2/{STAFF}", json.dumps(moved))
    with pytest.raises(WrongPin):
        keys("pc-2").sign(STAFF, b"x", PIN)


def test_a_pin_change_keeps_the_key_pair(store: FileKeyring) -> None:
    record, _ = keys().create(STAFF, PIN, key_id="k1")
    resealed = keys().change_pin(STAFF, PIN, "314159")
    assert resealed.public_key == record.public_key and resealed.key_id == "k1"
    with pytest.raises(WrongPin):
        keys().sign(STAFF, b"x", PIN)
    signature, _ = keys().sign(STAFF, b"x", "314159")
    assert verify_signature("ed25519", record.public_key, b"x", signature)


@pytest.mark.parametrize("pin", ["12345", "111111", "123456", "987654", "000000"])
def test_short_or_trivial_pins_are_refused(pin: str) -> None:
    with pytest.raises(ValidationFailed):
        check_pin_policy(pin)


def test_without_an_os_key_store_no_key_is_made_and_it_says_so(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(NoKeyStore) as caught:
            keys().create(STAFF, PIN, key_id="k1", lang="en")
    finally:
        keyring.set_keyring(previous)
    assert "key store" in caught.value.message


class ToyProvider:
    """A stand-in for a CA or SM2 adapter (HMAC, not a real signature): shows another algorithm plugs in
    behind the same interface and the same rules."""

    algorithm = "toy-hmac"

    def generate(self) -> KeyPair:
        secret = os.urandom(32)
        return KeyPair(self.algorithm, secret, self.public_key_of(secret))

    def public_key_of(self, private: bytes) -> str:
        return base64.b64encode(private).decode()  # a toy: "public" = secret

    def sign(self, private: bytes, data: bytes) -> str:
        return base64.b64encode(hmac.new(private, data, hashlib.sha256).digest()).decode()

    def verify(self, public_key: str, data: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(base64.b64decode(public_key), data), signature)

    def valid_public_key(self, public_key: str) -> bool:
        return len(base64.b64decode(public_key)) == 32


def test_another_signature_provider_plugs_in_behind_the_same_interface(store: FileKeyring) -> None:
    register_provider(ToyProvider())
    record, _ = keys().create(STAFF, PIN, key_id="k-toy", algorithm="toy-hmac")
    assert record.algorithm == "toy-hmac"
    content = {"doc": "test", "n": 1}
    from shared.security.signing import canonical_bytes

    signature, _ = keys().sign(STAFF, canonical_bytes(content), PIN)
    row = SigningKey(
        id="k-toy",
        staff_id=STAFF,
        algorithm="toy-hmac",
        public_key=record.public_key,
        fingerprint=key_fingerprint(record.public_key),
        registered_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
    )

    class View:
        def get(self, kind: type, entity_id: str) -> SigningKey | None:
            return row if entity_id == row.id else None

    now = dt.datetime.now(dt.UTC)
    verdict = signatures.verify_signed(
        View(), key_id="k-toy", signer_id=STAFF, at=now, content=content, signature=signature
    )
    assert verdict.ok
    wrong = signatures.verify_signed(
        View(),
        key_id="k-toy",
        signer_id=STAFF,
        at=now,
        content=content,
        signature=signature,
        algorithm="ed25519",
    )
    assert wrong.reason == signatures.ALGORITHM_MISMATCH
    assert not verify_signature("unknown-alg", record.public_key, b"x", signature)


def test_the_key_files_of_earlier_versions_are_erased(tmp_path: Path) -> None:
    from shared.security.device_signing import remove_legacy_key_files
    from shared.security.signing import generate_keypair

    folder = tmp_path / "signing_keys"
    folder.mkdir()
    (folder / "doctor1.json").write_text(generate_keypair(PIN).model_dump_json(), encoding="utf-8")
    assert remove_legacy_key_files(tmp_path) == 1 and not folder.exists()
    assert remove_legacy_key_files(tmp_path) == 0
