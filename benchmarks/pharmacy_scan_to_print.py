"""From scanning a pickup code at the pharmacy desk to drug labels and receipt sent (issue 6), end to end.

Target: under 500 ms for a 5-line prescription. Unlike ``pickup_to_print.py`` (the pure path), this drives
the desk itself, offscreen: a real server on loopback with the demo database and N approved 5-line
prescriptions; the desk logged in and bootstrapped; then for each prescription the scanned QR goes into
the dispensing screen and the clock runs until both print jobs were written by the print queue (labels
PDF to a folder, receipt ESC/POS bytes to a file). Timed: the lookup, the pickup-code check (a recorded
mutation), the FEFO plan, ``rx.dispense`` recorded against the local store, rendering the labels and the
receipt, and sending both, with the sync engine pushing in the background as it would.

    .venv/bin/python benchmarks/pharmacy_scan_to_print.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks.machine import describe  # noqa: E402
from server_stub.config import sqlite_url  # noqa: E402
from server_stub.seed.demo import seed_demo  # noqa: E402
from shared.domain.entities import Prescription  # noqa: E402
from shared.domain.pickup import pickup_qr_payload  # noqa: E402
from shared.gui.app import ClientRuntime  # noqa: E402
from shared.gui.login import LoginResult  # noqa: E402
from shared.gui.theme import apply_theme  # noqa: E402
from shared.sync.tokens import TokenStore  # noqa: E402
from tests.pharmacy.conftest import site_for  # noqa: E402
from tests.pharmacy.support import PHARMACIST_PIN, seed_signed_prescriptions  # noqa: E402
from tests.support.api import DEMO_PASSWORD  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


def wait(app: QApplication, done: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        loop = QEventLoop()
        QTimer.singleShot(2, loop.quit)
        loop.exec()
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    from pharmacy_desk import actions
    from pharmacy_desk.desk import DeskState, PharmacyWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    apply_theme(app, "zh_CN")  # type: ignore[arg-type]
    folder = Path(tempfile.mkdtemp(prefix="bench-pharmacy-"))
    url = sqlite_url(folder / "demo.db")
    seed_demo(url, patients=200)
    seeded = seed_signed_prescriptions(url, count=args.runs, lines=5, days=(3,))
    server = ServerProcess(url, folder / "server.log").start()
    runtime = ClientRuntime.open(
        app="pharmacy",
        server_url=server.url,
        data_folder=folder / "desk",
        tokens=TokenStore(fallback_file=folder / "tokens.bin"),
    )
    try:
        state = DeskState(
            runtime, site=site_for(server.url, folder / "prints"), data_folder=folder / "desk", lang="zh_CN"
        )
        window = PharmacyWindow(state)
        window.resize(1366, 768)
        window.show()
        staff = runtime.engine.login("pharmacist1", DEMO_PASSWORD)
        session = runtime.store.session()
        runtime.current = LoginResult(staff, session.campus_id if session else None, False)
        runtime.start_sync()
        started = time.perf_counter()
        assert wait(app, lambda: not runtime.store.needs_bootstrap(), 180), "bootstrap did not finish"
        bootstrap_s = time.perf_counter() - started
        window.load_pharmacies()
        assert wait(app, lambda: state.pharmacy_id != "", 10)

        # the pharmacist's key on this PC (a file-backed key store here), registered with the server
        from shared.security.device_keys import DeviceKeys
        from shared.security.device_signing import create_key, find_key
        from tests.support.keyring_file import FileKeyring

        state.keys = DeviceKeys(runtime.store.device_id, backend=FileKeyring(folder / "keyring.json"))
        create_key(runtime.store, state.keys, staff.id, PHARMACIST_PIN)
        runtime.engine.wake()
        ready = lambda: find_key(runtime.store, state.keys, staff.id).state == "ready"  # noqa: E731
        assert wait(app, ready, 60), "the key was not registered"
        codes = {}
        for item in seeded:
            outcome = actions.review(
                runtime.store, state.keys, staff, item.rx.id, "approve", "", "", PHARMACIST_PIN
            )
            codes[item.rx.id] = outcome.pickup_code
        dispense = window.dispense
        window.tabs.setCurrentWidget(dispense)
        printed: list[str] = []
        dispense.sig_printed.connect(lambda kind, outcome: printed.append(f"{kind}:{outcome}"))

        def go_when_ready(plan: object) -> None:
            if plan is not None and dispense.verified_code and dispense.dispense_button.isEnabled():
                dispense.dispense()

        dispense.sig_plan_shown.connect(go_when_ready)
        times = []
        for item in seeded:
            printed.clear()
            t0 = time.perf_counter()
            dispense.search(pickup_qr_payload(item.rx.id, codes[item.rx.id]))
            ok = wait(app, lambda: len(printed) == 2, 30)
            elapsed = (time.perf_counter() - t0) * 1000
            if not ok or sorted(printed) != ["drug_label:sent", "receipt:sent"]:
                raise SystemExit(
                    f"{item.rx.number}: prints {printed}; code {dispense.verified_code!r} "
                    f"plan {dispense.plan is not None}; message {window.message_line.text()!r} {dispense.code_label.text()!r}"
                )
            times.append(elapsed)
        assert wait(app, lambda: runtime.store.pending_count() == 0, 60), "outbox did not drain"
        statuses = {runtime.store.get(Prescription, s.rx.id).status for s in seeded}  # type: ignore[union-attr]
        for entry in runtime.store.needs_attention():
            print(f"needs attention: {entry.name} {entry.code} {entry.message}")
        for s in seeded:
            row = runtime.store.get(Prescription, s.rx.id)
            if row is not None and row.status != "dispensed":
                print(f"not dispensed: {s.rx.number} {row.status}")
        labels = len(list((folder / "prints").glob("drug_label-*.pdf")))
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"machine: {describe()}")
        print(f"bootstrap of the demo data set: {bootstrap_s:.1f} s; prescriptions: {len(seeded)} × 5 lines")
        print(
            f"scan → labels and receipt sent: median {statistics.median(times):.0f} ms, p95 {p95:.0f} ms, "
            f"max {times[-1]:.0f} ms, min {times[0]:.0f} ms (target < 500 ms)"
        )
        print(f"label PDFs written: {labels}; statuses after sync: {sorted(statuses)}")
        window.close()
        return 0
    finally:
        runtime.shutdown()
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
