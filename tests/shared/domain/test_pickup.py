"""Pickup codes: issued only for approved and paid prescriptions, verified in constant time, locked after 5."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from shared.domain.pickup import (
    MAX_ATTEMPTS,
    PickupRefused,
    code_digest,
    easy_to_guess,
    find_by_code,
    issue_pickup_code,
    parse_pickup_scan,
    pickup_qr_payload,
    reissue_pickup_code,
    verify_pickup_code,
)
from shared.errors import BusinessRuleViolation, ValidationFailed

NOW = dt.datetime(2026, 11, 22, 10, 0)


def issue(rx: str = "rx-1", **kwargs: object) -> tuple[str, object]:
    return issue_pickup_code(rx, rx_status="approved", paid=True, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_a_code_is_six_digits_and_only_its_digest_is_stored() -> None:
    code, state = issue_pickup_code("rx-1", rx_status="approved", paid=True, now=NOW)
    assert len(code) == 6 and code.isdigit()
    assert code not in repr(state)
    assert state.digest == code_digest("rx-1", code) and state.expires_at > NOW


def test_no_code_before_approval_or_payment() -> None:
    with pytest.raises(BusinessRuleViolation) as refused:
        issue_pickup_code("rx-1", rx_status="signed", paid=True, now=NOW)
    assert refused.value.code == "pickup_not_approved"
    with pytest.raises(BusinessRuleViolation) as unpaid:
        issue_pickup_code("rx-1", rx_status="approved", paid=False, now=NOW)
    assert unpaid.value.code == "pickup_not_paid"
    code, _ = issue_pickup_code("rx-1", rx_status="approved", paid=False, payment_required=False, now=NOW)
    assert len(code) == 6


def test_the_right_code_opens_once_and_a_wrong_code_is_refused() -> None:
    code, state = issue_pickup_code("rx-1", rx_status="partly_dispensed", paid=True, now=NOW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = verify_pickup_code(state, wrong, now=NOW)
    assert not refused.ok and refused.reason == "wrong" and refused.remaining == MAX_ATTEMPTS - 1
    assert refused.state.attempts == 1
    with pytest.raises(PickupRefused):
        refused.raise_if_refused()
    accepted = verify_pickup_code(refused.state, f" {code[:3]}-{code[3:]} ", now=NOW)
    assert accepted.ok and accepted.state.used_at == NOW
    again = verify_pickup_code(accepted.state, code, now=NOW)
    assert not again.ok and again.reason == "used"


def test_five_wrong_codes_lock_it_even_for_the_right_code_until_a_new_one_is_issued() -> None:
    code, state = issue_pickup_code("rx-1", rx_status="approved", paid=True, now=NOW)
    wrong = f"{(int(code) + 7) % 1_000_000:06d}"
    for _ in range(MAX_ATTEMPTS):
        result = verify_pickup_code(state, wrong, now=NOW)
        state = result.state
    assert result.reason == "locked" and state.locked
    assert verify_pickup_code(state, code, now=NOW).reason == "locked"
    with pytest.raises(ValidationFailed):
        reissue_pickup_code(state, reason=" ", now=NOW)
    new_code, fresh = reissue_pickup_code(state, reason="核对身份证后重新生成", now=NOW)
    assert fresh.generation == 2 and fresh.attempts == 0 and not fresh.locked
    assert verify_pickup_code(fresh, new_code, now=NOW).ok


def test_a_mistyped_length_does_not_cost_a_try_and_an_old_code_expires() -> None:
    code, state = issue_pickup_code("rx-1", rx_status="approved", paid=True, now=NOW)
    short = verify_pickup_code(state, code[:5], now=NOW)
    assert short.reason == "bad_format" and short.state.attempts == 0
    late = verify_pickup_code(state, code, now=NOW + dt.timedelta(days=8))
    assert not late.ok and late.reason == "expired"


def test_codes_are_drawn_at_random_avoiding_guessable_and_active_ones() -> None:
    draws = iter([111111, 123456, 424242, 555123])
    code, _ = issue_pickup_code(
        "rx-1", rx_status="approved", paid=True, now=NOW, randbelow=lambda n: next(draws),
        avoid=[code_digest("rx-1", "424242")],
    )  # fmt: skip
    assert code == "555123"
    assert easy_to_guess("000000") and not easy_to_guess("555123")
    codes = {issue_pickup_code("rx-1", rx_status="approved", paid=True, now=NOW)[0] for _ in range(50)}
    assert len(codes) > 45


def test_a_scanned_qr_or_a_typed_code_finds_the_prescription() -> None:
    states = {}
    values = itertools.cycle([246810, 135790])
    for rx in ("rx-1", "rx-2"):
        code, states[rx] = issue_pickup_code(
            rx, rx_status="approved", paid=True, now=NOW, randbelow=lambda n: next(values)
        )
    rx_id, code = parse_pickup_scan(pickup_qr_payload("rx-2", "135790"))
    assert (rx_id, code) == ("rx-2", "135790")
    assert parse_pickup_scan("２４６８１０") == (None, "246810")
    assert [s.prescription_id for s in find_by_code(states.values(), "246810")] == ["rx-1"]
    assert find_by_code(states.values(), "999999") == []


def test_a_digest_nobody_reads_is_not_hashed_and_a_real_one_is_hashed_once() -> None:
    from shared.domain import pickup

    real = code_digest("rx-9", "246810")
    assert real.startswith(pickup.DIGEST_PREFIX) and real != pickup.UNSEEN_DIGEST
    with pickup.digests_unseen():
        assert code_digest("rx-9", "246810") == pickup.UNSEEN_DIGEST
        assert pickup.digest_matches("rx-9", "246810", real)  # a stored digest is still checked for real
        assert not pickup.digest_matches("rx-9", "135790", real)
    assert code_digest("rx-9", "246810") == real
    before = pickup._slow_digest.cache_info().hits
    assert code_digest("rx-9", "246810") == real and pickup._slow_digest.cache_info().hits == before + 1


# -- local digests (a PC's pending view) ------------------------------------------------------------
def _store_key() -> str:
    from shared.domain import pickup

    key_id, key = pickup.new_local_key()
    pickup.register_local_key(key_id, key)
    return key_id


def test_a_local_digest_matches_its_code_only_under_its_own_stores_key() -> None:
    from shared.domain import pickup

    mine, other = _store_key(), _store_key()
    with pickup.local_digests(mine):
        local = code_digest("rx-9", "246810")
        assert local.startswith(f"{pickup.LOCAL_PREFIX}{mine}:") and len(local) <= 128
        assert pickup.digest_matches("rx-9", "246810", local)
        assert not pickup.digest_matches("rx-9", "135790", local), "a wrong code"
        assert not pickup.digest_matches("rx-8", "246810", local), "another prescription"
        # a confirmed (scrypt) digest is still checked for real
        assert pickup.digest_matches("rx-9", "246810", pickup._slow_digest("rx-9", "246810"))
    with pickup.local_digests(other):
        theirs = code_digest("rx-9", "246810")
        assert theirs != local and theirs.startswith(f"{pickup.LOCAL_PREFIX}{other}:")
        assert not pickup.digest_matches("rx-9", "246810", local), "another store's digest"
        relabelled = local.replace(mine, other)
        assert not pickup.digest_matches("rx-9", "246810", relabelled), "another store's key"
        unknown = local.replace(mine, "0123456789abcdef")
        assert not pickup.digest_matches("rx-9", "246810", unknown), "a key id nobody registered"
        assert not pickup.digest_matches("rx-9", "246810", f"{pickup.LOCAL_PREFIX}garbage")
    with pytest.raises(ValueError), pickup.local_digests("0123456789abcdef"):
        pass


def test_a_local_digest_never_verifies_outside_a_pcs_pending_view() -> None:
    from shared.domain import pickup

    key_id = _store_key()
    with pickup.local_digests(key_id):
        local = code_digest("rx-9", "246810")
    # the central API checks outside ``local_digests`` (with the key registered in this very process)
    assert not pickup.digest_matches("rx-9", "246810", local)
    code_state = pickup.PickupCode("rx-9", local, NOW, NOW + pickup.CODE_LIFETIME)
    refused = verify_pickup_code(code_state, "246810", now=NOW)
    assert not refused.ok and refused.reason == "wrong"
    assert find_by_code([code_state], "246810") == []
    # and outside it the digest is scrypt again
    assert code_digest("rx-9", "246810").startswith(pickup.DIGEST_PREFIX)


def test_a_local_digest_is_made_without_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from shared.domain import pickup

    calls: list[bytes] = []
    real = hashlib.scrypt

    def counting(password: bytes, **kw: object) -> bytes:
        calls.append(password)
        return real(password, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "scrypt", counting)
    key_id = _store_key()
    with pickup.local_digests(key_id):
        code, state = issue_pickup_code("rx-local-1", rx_status="approved", paid=True, now=NOW)
        assert verify_pickup_code(state, code, now=NOW).ok
    assert calls == []
    code_digest("rx-local-1", "246810")
    assert calls == [b"246810"], "outside, scrypt as before"


def test_the_unseen_blank_still_wins_inside_a_pending_view() -> None:
    from shared.domain import pickup

    with pickup.local_digests(_store_key()), pickup.digests_unseen():
        assert code_digest("rx-9", "246810") == pickup.UNSEEN_DIGEST
