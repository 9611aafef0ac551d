"""A client process for crash tests: records, applies pages or bootstraps until the test kills it (SIGKILL).

Run as ``python -m tests.faults.client_worker MODE DB [SERVER_URL]``. It writes ``ready`` on stdout once
it has started the part that the test means to interrupt.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import keyring

from shared.ids import new_id
from shared.store import LocalStore
from shared.sync import ApiTransport, SyncEngine, TokenStore
from tests.store.helpers import changes, open_store, patient
from tests.support.api import DEMO_PASSWORD, patient_args
from tests.sync.support import MemoryKeyring


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def record_forever(db: Path) -> None:
    store = open_store(db)
    _say("ready")
    while True:
        store.record(
            "patient.register", {"id": new_id(), "name": "崩溃测试", "sex": "F", "birth_date": "1980-05-01"}
        )


def apply_forever(db: Path) -> None:
    """Apply big pages of confirmed rows back to back, so a kill lands inside a transaction."""
    store = LocalStore.open(db, app="workstation")
    cursor = store.cursor() or 0
    _say("ready")
    while True:
        rows = [patient(f"page-{cursor + 1}-{n}", "页面患者") for n in range(1000)]
        page, _ = changes(*rows, start=cursor + 1)
        cursor += 1000
        store.apply_changes(page, cursor=cursor)


def bootstrap_slowly(db: Path, url: str) -> None:
    keyring.set_keyring(MemoryKeyring())
    store = LocalStore.open(db, app="workstation")
    transport = ApiTransport(url)
    engine = SyncEngine(store, transport, tokens=TokenStore())
    engine.login("nurse3", DEMO_PASSWORD)
    for _ in range(20):
        store.record("patient.register", patient_args(name="启动前记录"))
    _say("ready")
    engine.bootstrap(progress=lambda report: time.sleep(0.1))
    _say("finished")
    time.sleep(60)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    mode, db = sys.argv[1], Path(sys.argv[2])
    if mode == "record":
        record_forever(db)
    elif mode == "apply":
        apply_forever(db)
    elif mode == "bootstrap":
        bootstrap_slowly(db, sys.argv[3])
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
