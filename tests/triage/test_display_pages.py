"""The waiting-room screen with many rooms: every room is shown, page by page (no room silently dropped),
idle rooms are left out, a screen serves its department or rooms, a call brings up its page, and the
screen says how far behind its speaker is."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtGui import QFontMetrics
from pytestqt.qtbot import QtBot

from shared.audio import Announcer, Composer, ComposeSettings, VoicePack
from shared.audio.announcer import Backlog
from shared.audio.compose import RenderedAnnouncement
from shared.domain.entities import Department, Queue, Room, Schedule
from tests.gui.conftest import save_screenshot
from tests.triage.conftest import Pc
from triage_desk import model
from triage_desk.display import DisplayController, DisplayWindow
from triage_desk.display_pages import (
    DisplayScope,
    pages,
    screen_data,
    shown_boards,
    spoken_department,
    staffed_rooms,
)

NOW = dt.datetime(2026, 12, 6, 2, 30, tzinfo=dt.UTC)  # 10:30 in China
DEPARTMENTS = [
    "心血管内科",
    "呼吸内科",
    "消化内科",
    "儿科",
    "骨科",
    "眼科",
    "口腔科",
    "皮肤科",
    "妇科",
    "中医科",
]


def room(n: int) -> Room:
    department = DEPARTMENTS[n // 2]
    return Room(
        id=f"r{n:02d}",
        campus_id="c",
        department_id=f"d{n // 2}",
        code=f"R{n:02d}",
        name=f"{department}{n % 2 + 1}诊室",
    )


def board(n: int, *, current: str = "", waiting: int = 2, paused: bool = False) -> model.RoomBoard:
    labels = [f"A{n:02d}{k}" for k in range(waiting)]
    return model.RoomBoard(room(n), current, "", labels, paused)


def snapshot(
    boards: list[model.RoomBoard], calls: list[model.CallEvent] | None = None
) -> model.DisplaySnapshot:
    return model.DisplaySnapshot(NOW.date(), NOW, calls or [], boards, [], {"内科候诊": 5}, [])


def call_to(n: int, label: str = "B007", at: dt.datetime = NOW) -> model.CallEvent:
    r = room(n)
    return model.CallEvent(
        "t-" + label, 2, "call", label, "q", r.id, r.name, DEPARTMENTS[n // 2], "张小三", at
    )


def shown_rooms(window: DisplayWindow) -> list[str]:
    return [row[0].text() for row in window._room_rows[1:]]


def open_window(qtbot: QtBot, width: int, height: int, *, english: bool = False) -> DisplayWindow:
    window = DisplayWindow("zh_CN", english=english, hospital="华安市第一人民医院")
    qtbot.addWidget(window)
    window.resize(width, height)
    window.show()
    qtbot.waitUntil(lambda: window.width() == width and window.height() == height, timeout=10_000)
    return window


def test_every_one_of_twenty_rooms_is_shown_page_by_page_at_both_screen_sizes(qtbot: QtBot) -> None:
    rooms = [board(n, current=f"A{n:02d}0" if n % 3 == 0 else "") for n in range(20)]
    for width, height in ((1920, 1080), (1366, 768)):
        window = open_window(qtbot, width, height)
        window.show_snapshot(snapshot(rooms, [call_to(19)]))
        assert 10 <= window.rooms_per_page() < 20  # many on one page, not all twenty
        seen: list[str] = []
        for _ in range(len(window.room_pages)):
            seen += shown_rooms(window)
            assert window.page_label.text() == f"第 {window.page_index + 1}/{len(window.room_pages)} 页"
            window.next_page()
        assert sorted(seen) == sorted(b.room.name for b in rooms)  # none dropped, none twice
        assert window.page_index == 0  # the rotation went round
        save_screenshot(window, f"triage_display_20_rooms_{width}x{height}")


def test_rooms_that_fit_one_page_are_all_shown_without_paging(qtbot: QtBot) -> None:
    window = open_window(qtbot, 1920, 1080)
    window.show_snapshot(snapshot([board(n) for n in range(6)]))
    assert len(shown_rooms(window)) == 6 and window.page_label.text() == ""
    window.next_page()
    assert len(shown_rooms(window)) == 6


def test_a_call_brings_up_its_rooms_page_and_holds_it_while_it_is_said(qtbot: QtBot) -> None:
    window = open_window(qtbot, 1366, 768, english=True)
    window.show_snapshot(snapshot([board(n) for n in range(20)]))
    assert window.page_index == 0 and room(19).name not in shown_rooms(window)
    window.highlight(call_to(19))
    assert room(19).name in [r.split("<br>")[0] for r in shown_rooms(window)]
    held = window.page_index
    window.next_page()
    assert window.page_index == held  # the call holds its page
    assert window.call_room.text() == room(19).name  # and is large in the call panel
    save_screenshot(window, "triage_display_20_rooms_call_on_page_2_1366x768")
    window.highlight(None)
    window.next_page()
    assert window.page_index != held  # rotation resumes once it has been said


def test_pages_are_balanced_and_never_lose_an_item() -> None:
    assert pages(list(range(13)), 12) == [list(range(7)), list(range(7, 13))]
    assert pages([], 12) == [[]]
    assert [len(p) for p in pages(list(range(20)), 9)] == [7, 7, 6]
    assert sum(pages(list(range(50)), 11), []) == list(range(50))


def test_idle_rooms_are_left_out_and_staffed_or_waited_for_rooms_stay() -> None:
    idle, waited_for, busy, scheduled = (
        board(0, waiting=0),
        board(1),
        board(2, waiting=0, current="A001"),
        board(3, waiting=0),
    )
    schedule = Schedule(
        id="s",
        campus_id="c",
        department_id="d1",
        doctor_id="doc",
        room_id=scheduled.room.id,
        date=dt.date(2026, 12, 6),
        session="am",
        start_time=dt.time(8, 0),
        end_time=dt.time(12, 0),
    )
    now = dt.datetime(2026, 12, 6, 10, 30).astimezone()
    staffed = staffed_rooms([schedule], [idle, waited_for, busy, scheduled], [], now)
    assert staffed == {busy.room.id, scheduled.room.id}
    shown = shown_boards([idle, waited_for, busy, scheduled], staffed, hide_idle=True)
    assert [b.room.id for b in shown] == [waited_for.room.id, busy.room.id, scheduled.room.id]
    assert len(shown_boards([idle], staffed, hide_idle=False)) == 1
    evening = staffed_rooms([schedule], [idle, scheduled], [], now.replace(hour=19))
    assert evening == set()
    recently_called = staffed_rooms([], [idle], [call_to(0)], NOW + dt.timedelta(minutes=10))
    assert recently_called == {idle.room.id}


def test_a_call_names_the_department_only_when_another_room_here_sounds_the_same() -> None:
    rooms = {"a": ("儿科1诊室", "儿科"), "b": ("儿科2诊室", "儿科"), "c": ("骨科1诊室", "骨科")}
    assert spoken_department("a", rooms)  # 1诊室 is also 骨科's
    assert not spoken_department("b", rooms)  # only one 2诊室 here
    assert not spoken_department("a", {k: v for k, v in rooms.items() if k != "c"})


def test_a_screen_serves_its_department_and_leaves_out_idle_rooms(make_pc: Any) -> None:
    pc: Pc = make_pc("display", "nurse3")
    store = pc.runtime.store
    campus = pc.state.campus_id
    rooms = [r for r in store.all(Room) if r.campus_id == campus]
    department = next(d for d in store.all(Department) if d.id == rooms[0].department_id)
    night = dt.datetime.now(dt.UTC).astimezone().replace(hour=23, minute=30)  # no schedule, nobody called
    every = screen_data(store, campus, night, (), DisplayScope(hide_idle=False))
    assert len(every.snapshot.rooms) > 12
    mine = screen_data(
        store, campus, night, (), DisplayScope(departments=(department.code,), hide_idle=False)
    )
    assert mine.snapshot.rooms and {b.room.department_id for b in mine.snapshot.rooms} == {department.id}
    assert set(mine.rooms_said) == {b.room.id for b in mine.snapshot.rooms}
    assert len(mine.snapshot.waiting) < len(every.snapshot.waiting)  # its own queues' counts only
    two = tuple(b.room.code for b in every.snapshot.rooms[:2])
    assert [
        b.room.code
        for b in screen_data(
            store, campus, night, (), DisplayScope(rooms=two, hide_idle=False)
        ).snapshot.rooms
    ] == list(two)
    quiet = screen_data(store, campus, night, (), DisplayScope())
    assert all(b.next_labels or b.current for b in quiet.snapshot.rooms)  # idle rooms hidden
    assert len(quiet.snapshot.rooms) < len(every.snapshot.rooms)


def test_a_room_a_doctor_opened_today_is_shown_with_nobody_waiting(make_pc: Any) -> None:
    pc: Pc = make_pc("display", "doctor1")  # the doctor's own login opens a room (queue.room_open)
    store = pc.runtime.store
    campus = pc.state.campus_id
    evening = dt.datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=22, minute=30)  # the clinic's day
    quiet = screen_data(store, campus, evening, (), DisplayScope())
    shown = {b.room.id for b in quiet.snapshot.rooms}
    scheduled = {s.room_id for s in store.all(Schedule) if s.date == evening.date()}
    served = [r for q in store.all(Queue) if q.campus_id == campus for r in q.room_ids]
    room_id = next(r for r in served if r not in shown and r not in scheduled)
    store.record("queue.room_open", {"room_id": room_id})
    opened = screen_data(store, campus, evening, (), DisplayScope())
    assert room_id in {b.room.id for b in opened.snapshot.rooms}
    assert shown <= {b.room.id for b in opened.snapshot.rooms}


class HeldPlayer:
    """A speaker that plays until the test lets it finish (so calls wait behind it, without timing)."""

    name = "held"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def start(self, audio: RenderedAnnouncement) -> Any:
        player = self
        player.started.set()

        class Held:
            def wait(self, timeout: float) -> bool:
                return player.release.wait(60)

            def stop(self) -> None:
                player.release.set()

        return Held()


def test_the_screen_shows_how_far_behind_its_speaker_is(qtbot: QtBot, make_pc: Any) -> None:
    pc: Pc = make_pc("display", "nurse3")
    player = HeldPlayer()
    announcer = Announcer(Composer(VoicePack.default(), ComposeSettings()), player)  # type: ignore[arg-type]
    window = open_window(qtbot, 1366, 768)
    controller = DisplayController(pc.state, window, announcer=announcer)
    window.controller = controller  # type: ignore[attr-defined]
    pc.windows.append(window)
    now = dt.datetime.now(dt.UTC)  # fresh calls (the speaker drops stale ones)
    controller.announce(call_to(0, "A001", now))
    assert player.started.wait(30)
    for n, label in ((2, "A002"), (4, "A003"), (6, "A004")):
        controller.announce(call_to(n, label, now))
    controller.show_backlog()
    text = window.backlog_label.text()
    assert text.startswith("广播排队 3 条") and "秒后播完" in text
    seconds = int(text.split("约 ")[1].split(" 秒")[0])
    assert 3 * 4 <= seconds <= 3 * 8 + 8  # three calls of about 5-6 s behind what is being said
    save_screenshot(window, "triage_display_backlog_1366x768")
    player.release.set()
    assert announcer.wait_idle(60)
    controller.show_backlog()
    assert window.backlog_label.text() == ""
    assert Backlog(0, 0.0, False).behind is False


def test_the_speaker_names_the_department_only_where_rooms_would_sound_the_same(
    qtbot: QtBot, make_pc: Any
) -> None:
    pc: Pc = make_pc("display", "nurse3")
    window = open_window(qtbot, 1366, 768)
    controller = DisplayController(pc.state, window)  # no speaker: the call is shown, and kept in ``said``
    window.controller = controller  # type: ignore[attr-defined]
    pc.windows.append(window)
    now = dt.datetime.now(dt.UTC)
    # A screen for one department (儿科1诊室, 儿科2诊室): "到 一 诊室" is enough.
    controller.rooms_said = {room(6).id: (room(6).name, "儿科"), room(7).id: (room(7).name, "儿科")}
    controller.announce(call_to(6, "A001", now))
    assert (controller.said[-1].room, controller.said[-1].department) == ("1诊室", None)
    # A screen for the whole campus (骨科1诊室 too): "到 儿科 一 诊室".
    controller.rooms_said[room(8).id] = (room(8).name, "骨科")
    controller.announce(call_to(6, "A002", now))
    assert (controller.said[-1].room, controller.said[-1].department) == ("1诊室", "儿科")


def test_waiting_numbers_are_never_cut_at_the_screens_edge(qtbot: QtBot) -> None:
    window = open_window(qtbot, 1366, 768)
    window.show_snapshot(snapshot([board(1, current="A010", waiting=9), board(2, waiting=1)]))
    qtbot.waitUntil(lambda: len(window._room_rows) == 3, timeout=10_000)
    crowded, single = window._room_rows[1][2], window._room_rows[2][2]
    metrics = QFontMetrics(crowded.font())
    qtbot.waitUntil(lambda: "+" in crowded.text(), timeout=10_000)  # the rest counted, not cut
    shown = crowded.text().split("  ")
    assert shown[0] == "A010" and shown[-1].startswith("+")
    assert len(shown) - 1 + int(shown[-1][1:]) == 9  # every waiting number shown or counted
    assert metrics.horizontalAdvance(crowded.text()) <= crowded.width()
    assert single.text() == "A020"
    save_screenshot(window, "triage_display_many_waiting_1366x768")
