"""The waiting-room display on another PC: a call made at the nurse's desk reaches it through the real
server, is spoken (rendered to a WAV by the file player) and highlighted while the audio plays."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from shared.audio import Announcer, AnnouncerSettings, Composer, ComposeSettings, FilePlayer, VoicePack
from shared.audio.players import TimedPlayback
from shared.domain.entities import QueueTicket
from shared.domain.masking import mask_name
from shared.gui.ops import CollectionOp
from tests.gui.conftest import save_screenshot
from tests.triage.conftest import Pc
from tests.triage.support import first_queue, free_patients
from triage_desk import model
from triage_desk.display import (
    DisplayController,
    DisplayWindow,
    ScreenKeeper,
    choose_screen_name,
    spoken_room,
)

SIZES = ((1920, 1080), (1366, 768))


def check_in(pc: Pc, queue: Any, patient: Any, ticket_id: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with pc.runtime.store.reading() as view:
        number = model.next_number(view, queue, model.local_day(now), pc.state.desk_slot())
    pc.runtime.store.record(
        "queue.check_in", {"id": ticket_id, "queue_id": queue.id, "patient_id": patient.id, "number": number}
    )


def open_display(
    qtbot: QtBot, pc: Pc, announcer: Announcer | None
) -> tuple[DisplayWindow, DisplayController]:
    window = DisplayWindow(
        pc.state.lang, english=True, hospital=model.hospital_name(pc.runtime.store, pc.state.campus_id)
    )
    controller = DisplayController(pc.state, window, announcer=announcer)
    window.controller = controller  # type: ignore[attr-defined]
    qtbot.addWidget(window)
    pc.windows.append(window)
    window.resize(1920, 1080)
    window.show()
    with qtbot.waitSignal(controller.sig_refreshed, timeout=10_000):
        controller.refresh()
    return window, controller


def test_a_call_at_the_desk_is_spoken_and_highlighted_on_the_display_pc_through_the_server(
    qtbot: QtBot, make_pc: Any, tmp_path: Path
) -> None:
    desk = make_pc("triage", "nurse1")
    screen_pc = make_pc("display", "nurse3")
    player = FilePlayer(tmp_path / "played")
    announcer = Announcer(Composer(VoicePack.default(), ComposeSettings(repeat=1)), player)
    window, controller = open_display(qtbot, screen_pc, announcer)

    queue = first_queue(desk.runtime.store, desk.state.campus_id)
    room = queue.room_ids[0]
    patients = free_patients(desk.runtime.store, 3)
    ids = [f"disp{n}-{p.id[-10:]}" for n, p in enumerate(patients)]
    for ticket_id, patient in zip(ids, patients, strict=True):
        check_in(desk, queue, patient, ticket_id)
    desk.runtime.network.wake()
    qtbot.waitUntil(lambda: screen_pc.runtime.store.get(QueueTicket, ids[2]) is not None, timeout=15_000)
    assert controller.announced == []  # check-ins are not calls

    desk.runtime.store.record("queue.call", {"ticket_id": ids[0], "room_id": room})
    desk.runtime.network.wake()
    qtbot.waitUntil(lambda: len(controller.announced) == 1, timeout=15_000)
    call = controller.announced[0]
    assert call.ticket_id == ids[0] and call.room_id == room
    qtbot.waitUntil(lambda: window.highlighted is not None, timeout=10_000)
    label = desk.runtime.store.get(QueueTicket, ids[0]).label  # type: ignore[union-attr]
    assert window.call_number.text() == label and window.call_room.text() == call.room_name
    assert window.call_name.text() == mask_name(patients[0].name) != patients[0].name
    assert "Number" in window.call_english.text()
    qtbot.waitUntil(lambda: window.highlighted is None, timeout=20_000)

    # The highlight followed the audio: on after the player started, off after it ended.
    timeline = controller.timeline
    (call_id,) = timeline.audio_start
    assert timeline.audio_start[call_id] <= timeline.highlight_on[call_id]
    assert timeline.audio_end[call_id] <= timeline.highlight_off[call_id]
    assert len(player.played) == 1
    with wave.open(str(player.played[0])) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.5 < seconds < 12  # chime + 请 A 1 0 1 号 到 … 诊室 就诊, once
    room_said, department = spoken_room(call.room_name, call.department)
    assert department and room_said.endswith("诊室") and len(room_said) < len(call.room_name)

    # Two recalls in quick succession while nothing else plays: said at most once more (merged).
    for _ in range(2):
        desk.runtime.store.record("queue.recall", {"ticket_id": ids[0]})
    desk.runtime.network.wake()
    qtbot.waitUntil(lambda: (ids[0], 4) in (controller._seen or set()), timeout=15_000)
    assert announcer.wait_idle(30)
    assert len(controller.announced) in (2, 3)  # one snapshot: only the latest recall is live
    assert len(player.played) == 2

    # A second room's call shows in the room board and the recent list; the skipped list too.
    desk.runtime.store.record("queue.call", {"ticket_id": ids[1], "room_id": queue.room_ids[-1]})
    desk.runtime.store.record("queue.skip", {"ticket_id": ids[0]})
    desk.runtime.network.wake()
    second = desk.runtime.store.get(QueueTicket, ids[1]).label  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: second in [r[1].text() for r in window._room_rows[1:]], timeout=15_000)
    qtbot.waitUntil(lambda: label in window.skipped_label.text(), timeout=15_000)
    desk.runtime.store.record(
        "queue.notice",
        {"id": "notice-" + ids[0], "text": "今日下午内科专家门诊时间调整为14:00开始，请留意叫号"},
    )
    desk.runtime.network.wake()
    qtbot.waitUntil(lambda: "14:00" in window._notice_text, timeout=15_000)
    qtbot.waitUntil(
        lambda: window.highlighted is not None and window.highlighted.ticket_id == ids[1], timeout=15_000
    )
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.waitUntil(lambda w=width, h=height: window.width() == w and window.height() == h, timeout=2_000)
        save_screenshot(window, f"triage_display_{width}x{height}")
    assert announcer.wait_idle(30)


def test_the_display_chooses_its_screen_by_name_and_falls_back_to_the_primary(
    qtbot: QtBot, tmp_path: Path
) -> None:
    assert choose_screen_name(["HDMI-1", "DP-2"], "DP-2", "HDMI-1") == "DP-2"
    assert choose_screen_name(["HDMI-1"], "DP-2", "HDMI-1") == "HDMI-1"  # unplugged: re-homed
    assert choose_screen_name(["HDMI-1", "DP-2"], "", "HDMI-1") == "HDMI-1"
    assert spoken_room("心血管内科2诊室", "心血管内科") == ("2诊室", "心血管内科")
    assert spoken_room("B超室", "超声科") == ("B超室", None)

    from PySide6.QtWidgets import QWidget

    window = QWidget()
    qtbot.addWidget(window)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    keeper = ScreenKeeper(window, preferred="no-such-monitor", full_screen=True, settings=settings)
    primary = QGuiApplication.primaryScreen()
    assert keeper.place() == primary.name()
    assert window.geometry() == primary.geometry()


def test_the_display_follows_its_monitor_when_unplugged_and_replugged_and_remembers_the_nurses_choice(
    tmp_path: Path,
) -> None:
    """Two offscreen monitors in a child process (the offscreen platform's screen configuration)."""
    screens = [
        {"name": "DP-2", "x": 0, "y": 0, "width": 1920, "height": 1080},
        {"name": "HDMI-1", "x": 1920, "y": 0, "width": 1366, "height": 768},
    ]
    config = tmp_path / "screens.json"
    config.write_text(
        json.dumps({"screens": [{**s, "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1} for s in screens]})
    )
    done = subprocess.run(
        [sys.executable, "-m", "tests.triage.screens_probe", str(tmp_path / "settings.ini")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(report["screens"]) == ["DP-2", "HDMI-1"]
    hdmi, dp = [1920, 0, 1366, 768], [0, 0, 1920, 1080]
    assert report["placed"] == {"screen": "HDMI-1", "geometry": hdmi, "full_screen": True}
    assert report["unplugged"] == {"screen": "DP-2", "geometry": dp, "full_screen": True}  # re-homed
    assert report["replugged"]["screen"] == "HDMI-1" and report["replugged"]["geometry"] == hdmi
    assert report["menu"] == ["DP-2", "HDMI-1"]
    assert report["chosen"]["screen"] == "DP-2" and report["chosen"]["geometry"] == dp
    assert report["moves"] == ["HDMI-1", "DP-2", "HDMI-1", "DP-2"]
    assert report["next_start"]["screen"] == "DP-2"  # remembered by name on this PC
    assert "DP-2" in (tmp_path / "settings.ini").read_text()


class StuckPlayer(FilePlayer):
    """A sound device that never reports the end of playback (a hung driver): writes the WAV, then hangs."""

    def start(self, audio: Any) -> Any:
        super().start(audio)
        return TimedPlayback(audio.duration * 1000, self.clock)


def test_the_watchdog_ends_the_highlight_when_the_player_never_reports_the_end(
    qtbot: QtBot, make_pc: Any, tmp_path: Path
) -> None:
    pc = make_pc("triage", "nurse3")  # it checks a patient in from its slot, then drives the display
    player = StuckPlayer(tmp_path / "played")
    announcer = Announcer(
        Composer(VoicePack.default(), ComposeSettings(repeat=1)),
        player,
        settings=AnnouncerSettings(watchdog_margin_s=0.5),
    )
    window, controller = open_display(qtbot, pc, announcer)
    queue = first_queue(pc.runtime.store, pc.state.campus_id)
    patient = free_patients(pc.runtime.store, 1)[0]
    ticket_id = f"dog-{patient.id[-12:]}"
    check_in(pc, queue, patient, ticket_id)
    CollectionOp(
        None,
        lambda store: store.record("queue.call", {"ticket_id": ticket_id, "room_id": queue.room_ids[0]}),
        changes=("queue_ticket",),
        context=pc.runtime.context,
    ).run_in_background()
    qtbot.waitUntil(lambda: window.highlighted is not None, timeout=10_000)
    qtbot.waitUntil(lambda: window.highlighted is None, timeout=30_000)
    (call_id,) = controller.timeline.audio_start
    assert controller.timeline.end_reason[call_id] == "watchdog"
    with wave.open(str(player.played[0])) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    timeline = controller.timeline
    # the highlight stayed on at least as long as the rendered audio, then the watchdog ended it
    assert timeline.highlight_off[call_id] - timeline.audio_start[call_id] >= seconds
    assert timeline.audio_end[call_id] <= timeline.highlight_off[call_id]
    assert window.call_number.text() == pc.runtime.store.get(QueueTicket, ticket_id).label  # type: ignore[union-attr]


def test_the_sites_english_setting_puts_english_lines_under_the_chinese(
    qtbot: QtBot, make_pc: Any, tmp_path: Path
) -> None:
    from shared.site import DisplaySetting
    from triage_desk.main import open_display_here

    pc = make_pc()
    pc.state.site = pc.state.site.model_copy(
        update={"display": DisplaySetting(english=True, full_screen=False)}
    )
    display = open_display_here(pc.state, player=FilePlayer(tmp_path / "played"))
    pc.windows.append(display)
    qtbot.waitUntil(lambda: display.controller._seen is not None, timeout=10_000)
    assert display.english
    names = [row[0] for row in display._room_rows[1:]]
    assert names and any(str(label.property("name_en") or "").endswith(" Room 1") for label in names)
    english_room = next(label for label in names if label.property("name_en"))
    assert "<br>" in english_room.text() and str(english_room.property("name_en")) in english_room.text()


def test_the_default_voice_settings_say_the_department_at_the_sites_volume(tmp_path: Path) -> None:
    from shared.audio import Announcement
    from shared.audio.pcm import rms
    from shared.site import SiteConfig, VoiceSetting
    from triage_desk.display import make_announcer

    def render(volume: float) -> Any:
        site = SiteConfig(voice=VoiceSetting(repeat=1, volume=volume))  # engine "pack": clips only
        announcer = make_announcer(site, player=FilePlayer(tmp_path / "played"))
        assert announcer is not None and announcer.composer.engine is None
        room, department = spoken_room("儿科2诊室", "儿科")
        return announcer.composer.render(Announcement("F012", room, department=department))

    full, half = render(1.0), render(0.4)
    labels = [s.label for s in full.segments if s.kind == "speech"]
    assert labels[-4:] == ["到", "儿科", "二", "诊室"]
    assert rms(half.pcm, 0, half.samples) / rms(full.pcm, 0, full.samples) == pytest.approx(0.4, rel=0.02)
