"""Getting the doctor's key and PIN before a signature.

``with_key(parent, state, what, then)`` finds this PC's key of the doctor on the DB thread
(``shared.security.device_signing.find_key``) and calls ``then(signer, key_id, pin)`` on the GUI thread:

- a registered key: the PIN entered for this patient's consult, else the PIN dialog;
- no key on this PC (first signature here, or the old one was revoked or erased): a new PIN (twice),
  a key made in the OS key store and ``signing_key.register`` pushed at once; the signature waits
  (polling, never blocking the GUI) until the server confirmed the key, because the server refuses a
  signature claiming a time before its key's registration. Offline, the doctor is told to sign again
  once the PC is back online (the key waits in the key store).

One PIN entry serves one patient's consult: ``WorkState`` forgets it when the consult changes patient,
at call-next and at finish; a wrong PIN is forgotten at once (``pin_refused``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QWidget

from shared.gui.pin_dialog import wait_for_registration
from shared.security.device_keys import KeyWiped
from shared.security.device_signing import DeviceSigner, KeyStatus
from shared.security.signing import WrongPin
from workstation import keys
from workstation.dialogs import NewPinDialog, PinDialog
from workstation.state import WorkState
from workstation.texts import t

Then = Callable[[DeviceSigner, str, str], Any]


def with_key(parent: QWidget, state: WorkState, what: str, then: Then) -> None:
    staff = state.staff
    if staff is None:
        return
    lang = state.lang

    def found(status: KeyStatus) -> None:
        if status.state == "ready" and status.signer is not None:
            pin = state.remembered_pin() or PinDialog.ask(parent, lang=lang, what=what)
            if pin is None:
                return
            then(status.signer, status.signer.key_id, pin)
            return
        if status.state == "pending":
            state.message(t("pin.registering", lang), "info")
            _wait_for_server(parent, state, None, what, then)
            return
        if status.revoked:
            state.message(t("pin.revoked_here", lang), "info")
        chosen = NewPinDialog.ask(parent, lang=lang)
        if chosen is None:
            return
        new_pin: str = chosen

        def made(signer: DeviceSigner) -> None:
            state.message(t("pin.registering", lang), "info")
            _wait_for_server(parent, state, new_pin, what, then)

        state.act(
            parent,
            lambda store: keys.create_key(store, state.keys, staff.id, new_pin, lang),
            changes=("signing_key",),
            success=made,
            failure=lambda error: _refused(state, error),
        )

    state.query(parent, lambda store: keys.find_key(store, state.keys, staff.id, lang), found)


def _wait_for_server(parent: QWidget, state: WorkState, pin: str | None, what: str, then: Then) -> None:
    """Push at once and wait (polling) until the server confirmed this PC's key, then sign."""
    staff = state.staff
    if staff is None:
        return
    lang = state.lang

    def done(status: KeyStatus | None) -> None:
        if status is None:
            state.message(t("pin.registration_waiting", lang), "error")
            return
        if status.state != "ready" or status.signer is None:
            state.message(t("pin.registration_refused", lang), "error")
            return
        state.message(t("pin.registered", lang, fingerprint=status.signer.fingerprint), "ok")
        chosen = pin or state.remembered_pin() or PinDialog.ask(parent, lang=lang, what=what)
        if chosen is None:
            return
        state.remember_pin(chosen)
        then(status.signer, status.signer.key_id, chosen)

    wait_for_registration(
        parent,
        lambda fn, callback: state.query(parent, fn, callback),
        lambda store: keys.find_key(store, state.keys, staff.id, lang),
        done,
        wake=state.runtime.network.wake,
    )


def _refused(state: WorkState, error: BaseException) -> None:
    if not pin_refused(state, error):
        state.show_error(error)


def pin_refused(state: WorkState, error: BaseException) -> bool:
    """Forget a wrong PIN and say so (with the attempts left, or that the key was erased); True when
    ``error`` was about the PIN."""
    if isinstance(error, KeyWiped):
        state.forget_pin()
        state.message(error.message, "error")
        return True
    if isinstance(error, WrongPin):
        state.forget_pin()
        left = error.detail.get("attempts_left") if isinstance(error.detail, dict) else None
        text = t("pin.wrong_left", state.lang, left=left) if left is not None else t("pin.wrong", state.lang)
        state.message(text, "error")
        return True
    return False
