"""The one print queue every app uses: routed by the shared router (a ``win:`` printer works on any PC that
has it), a file printer per kind out of the box, failed jobs kept, printed rows recorded with
``print.record`` (the triage desk's slips too), and a "no printer" message that says where to set one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from shared.domain.entities import PrintRecord, Staff
from shared.gui.ops import OpBus, OpContext
from shared.gui.printing import PrintQueue, QueuedJob
from shared.printing import router
from shared.printing.escpos_decode import decode
from shared.site import PrinterSetting, SiteConfig
from tests.gui.conftest import make_context


@pytest.fixture
def nurse_store(tmp_path: Path) -> Iterator[Any]:
    from shared.store import LocalStore

    local = LocalStore.open(tmp_path / "triage.db", app="triage")
    local.set_session(Staff(id="staff-nurse1", username="nurse1", name="王护士", roles=["nurse"]), "campus-1")
    yield local
    local.close()


@pytest.fixture
def nurse_context(nurse_store: Any, bus: OpBus) -> Iterator[OpContext]:
    yield from make_context(nurse_store, bus)


def finish(qtbot: QtBot, queue: PrintQueue, *args: Any, **kwargs: Any) -> QueuedJob:
    with qtbot.waitSignal(queue.sig_job_finished, timeout=15_000) as finished:
        queue.print(*args, **kwargs)
    job: QueuedJob = finished.args[0]
    return job


class FakeSpooler:
    """Stands in for the Windows spooler (an outside system)."""

    def __init__(self, *names: str) -> None:
        self.names = list(names)
        self.pdfs: list[tuple[str, bytes]] = []

    def printers(self) -> list[str]:
        return self.names

    def print_raw(self, printer: str, title: str, data: bytes) -> None:
        raise AssertionError("a PDF is not sent raw")

    def print_pdf(self, printer: str, path: Path) -> None:
        self.pdfs.append((printer, path.read_bytes()))


def test_a_windows_printer_prints_the_doctors_prescription(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workstation had its own target reader without ``win:`` ("unsupported printer setting")."""
    spooler = FakeSpooler("HP LaserJet M404")
    monkeypatch.setattr(router, "windows_spooler", lambda: spooler)
    site = SiteConfig(printers={"prescription": PrinterSetting(target="win:HP LaserJet M404")})  # type: ignore[dict-item]
    queue = PrintQueue(lambda: site, data_folder=tmp_path)
    job = finish(qtbot, queue, "prescription", "R261206-0001", "pdf", b"%PDF-1.4 rx")
    assert job.state == "sent" and job.where == "win:HP LaserJet M404" and not job.saved_to_file
    assert spooler.pdfs == [("HP LaserJet M404", b"%PDF-1.4 rx")]


def test_out_of_the_box_every_kind_prints_to_a_file_in_the_data_folder(qtbot: QtBot, tmp_path: Path) -> None:
    queue = PrintQueue(SiteConfig, data_folder=tmp_path)
    for kind, content in (("prescription", "pdf"), ("ticket", "escpos"), ("drug_label", "pdf")):
        job = finish(qtbot, queue, kind, "X1", content, b"%PDF-1.4 x" if content == "pdf" else b"\x1b@A023")
        assert job.state == "sent" and job.saved_to_file, job.error
        assert Path(job.where).parent == tmp_path / "prints" and Path(job.where).name.startswith(f"{kind}-")


def test_no_printer_says_where_to_set_one_and_asks_it_when_it_manages_printers(
    qtbot: QtBot, tmp_path: Path
) -> None:
    none = {"receipt": PrinterSetting(target="none")}
    editable = PrintQueue(lambda: SiteConfig(printers=none), data_folder=tmp_path)  # type: ignore[arg-type]
    assert "请在“打印机设置”中选择" in finish(qtbot, editable, "receipt", "R1", "escpos", b"x").error
    locked_site = SiteConfig(printers=none, user_may_override=["language"])  # type: ignore[arg-type]
    locked = PrintQueue(lambda: locked_site, data_folder=tmp_path)
    job = finish(qtbot, locked, "receipt", "R1", "escpos", b"x")
    assert job.state == "failed" and "请联系信息科" in job.error and "printers.receipt" in job.error


def test_a_printed_slip_is_recorded_and_a_second_one_is_a_reprint(
    qtbot: QtBot, tmp_path: Path, nurse_context: OpContext, nurse_store: Any
) -> None:
    site = SiteConfig(printers={"ticket": PrinterSetting(target=f"file:{tmp_path}/tickets.bin", copies=2)})  # type: ignore[dict-item]
    queue = PrintQueue(lambda: site, data_folder=tmp_path, context=nurse_context)
    first = finish(qtbot, queue, "ticket", "A023", "escpos", b"\x1b@A023\n", ref_id="ticket-1")
    again = finish(qtbot, queue, "ticket", "A023", "escpos", b"\x1b@A023\n", ref_id="ticket-1", reprint=True)
    assert first.record_id and again.record_id and not first.record_warning
    records = sorted(nurse_store.find(PrintRecord, ref_id="ticket-1"), key=lambda r: r.reprint)
    assert [(r.document, r.reprint, r.copies, r.printer) for r in records] == [
        ("ticket", False, 2, str(tmp_path / "tickets.bin")),
        ("ticket", True, 2, str(tmp_path / "tickets.bin")),
    ]
    assert decode((tmp_path / "tickets.bin").read_bytes()).text.count("A023") == 4


def test_a_failed_job_waits_in_the_spool_and_prints_once_the_printer_is_set(
    qtbot: QtBot, tmp_path: Path
) -> None:
    site = SiteConfig(printers={"prescription": PrinterSetting(target="none")})  # type: ignore[dict-item]
    queue = PrintQueue(lambda: site, data_folder=tmp_path, spool=tmp_path / "print_spool")
    failed = finish(qtbot, queue, "prescription", "R1", "pdf", b"%PDF-1.4 a", ref_id="rx-1")
    assert failed.state == "failed" and len(queue.failed()) == 1
    site = SiteConfig(printers={"prescription": PrinterSetting(target=f"file:{tmp_path}/out")})  # type: ignore[dict-item]
    with qtbot.waitSignal(queue.sig_job_finished, timeout=15_000) as sent:
        assert queue.retry() == 1
    assert sent.args[0].state == "sent" and not queue.failed()
    assert next((tmp_path / "out").glob("prescription-*.pdf")).read_bytes() == b"%PDF-1.4 a"
    assert not list((tmp_path / "print_spool").iterdir())
    assert dt.datetime.now() >= sent.args[0].job.created_at
