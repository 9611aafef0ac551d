"""Getting the doctor's key and PIN before a signature: first use sets a PIN and registers the key.

``with_key(parent, state, what, then)`` finds the key on the DB thread; with none (first use, or the old
one was revoked by an administrator) it asks for a new PIN, makes and registers the key, then calls
``then(key, key_id, pin)`` on the GUI thread. The PIN is remembered for a few minutes so one consult's
note and prescriptions take one PIN; a wrong PIN is forgotten at once (``pin_refused``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from shared.security.signing import EncryptedKey, WrongPin
from workstation import keys
from workstation.dialogs import NewPinDialog, PinDialog
from workstation.state import WorkState
from workstation.texts import t

Then = Callable[[EncryptedKey, str, str], Any]


def with_key(parent: QWidget, state: WorkState, what: str, then: Then) -> None:
    staff = state.staff
    if staff is None:
        return
    lang = state.lang

    def found(result: tuple[EncryptedKey, str] | None) -> None:
        if result is None:
            chosen = NewPinDialog.ask(parent, lang=lang)
            if chosen is None:
                return
            new_pin: str = chosen
            state.act(
                parent,
                lambda store: keys.create_key(store, state.keys, staff.username, staff.id, new_pin, lang),
                changes=("signing_key",),
                success=lambda made: _registered(state, made, new_pin, then),
            )
            return
        key, key_id = result
        pin = state.remembered_pin() or PinDialog.ask(parent, lang=lang, what=what)
        if pin is None:
            return
        then(key, key_id, pin)

    state.query(parent, lambda store: keys.find_key(store, state.keys, staff.username, staff.id), found)


def _registered(state: WorkState, made: tuple[EncryptedKey, str], pin: str, then: Then) -> None:
    key, key_id = made
    state.message(t("pin.registered", state.lang, fingerprint=key.fingerprint), "ok")
    state.remember_pin(pin)
    then(key, key_id, pin)


def pin_refused(state: WorkState, error: BaseException) -> bool:
    """Forget a wrong PIN and say so; True when ``error`` was a wrong PIN."""
    if isinstance(error, WrongPin):
        state.forget_pin()
        state.message(t("pin.wrong", state.lang), "error")
        return True
    return False
