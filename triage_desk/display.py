"""The waiting-room display: its own full-screen window on a chosen monitor, calls from the local store as
they arrive (the call being announced large and highlighted, each room's current and next patients, the
skipped list, waiting counts, clock, a scrolling notice, an unobtrusive offline marker), and the voice.

``DisplayController`` watches the op bus: whenever queue tickets change (a call made at this PC, online
or not, or one pulled from the server) it reads a ``display_snapshot`` from the local store, finds the
calls it has not seen yet and hands them to the speaker's ``Announcer``. The highlight follows the real
start and end of playback (the announcer's callbacks, relayed to the GUI thread); without a speaker a
call is highlighted for ``SILENT_HIGHLIGHT_S``. A call that reaches this PC after its ticket moved on
(started, skipped, done: typically a call pushed late after an outage) is shown but not said; the
announcer itself drops calls older than its stale limit. Names are always masked (张*三).

Rooms: a screen serves the site's ``display.departments`` / ``display.rooms`` (and ``queue_codes``) and leaves
out rooms with no doctor and nobody waiting (``triage_desk.display_pages``). Rooms that do not fit one
screen are shown in pages that rotate every ``display.page_seconds`` ("第 2/3 页"); a call being said
brings its room's page up and holds it, and is shown large in the call panel whatever page is up. A call
names the department only when another room of this screen would sound the same. Under the header the
screen shows how far behind its speaker is ("广播排队 3 条，约 17 秒后播完") while calls wait their turn.

Screen placement: the window goes to the screen named in the site configuration (``display.screen_name``)
or else the one it was last on (remembered by name in the user settings); when that screen is unplugged
it moves to the primary screen, and back when the named screen returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QGuiApplication, QScreen
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QMenu,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from shared import clinic_time
from shared.audio import Announcer, AnnouncerSettings, Call, Composer, ComposeSettings, VoicePack
from shared.audio.announcer import Backlog
from shared.audio.players import Player, default_player
from shared.errors import SuiteError
from shared.gui.ops import OpChanges, QueryOp
from shared.site import SiteConfig
from shared.sync.status import SyncState, SyncStatus
from triage_desk import model
from triage_desk.display_pages import DisplayScope, ScreenData, page_of, pages, screen_data, spoken_department
from triage_desk.state import QUEUE_KINDS, TriageState
from triage_desk.texts import t

log = logging.getLogger(__name__)

SILENT_HIGHLIGHT_S = 8.0
RECENT_CALLS = 4
SETTINGS_KEY = "display/screen_name"
# The smallest room line that still reads from across a waiting room, in pixels of a 1080-high design: as
# many rooms go on a page as fit at this size (fewer rooms: bigger letters).
MIN_ROOM_PX = 30.0
ROOM_AREA_PX = 760.0  # of the 1080 design height (the rest: header, page, missed, waiting, notice)

THEMES = {
    "dark": {
        "bg": "#0b1f3a",
        "fg": "#ffffff",
        "muted": "#9fb3c8",
        "panel": "#12305a",
        "hi": "#ffd400",
        "hi_fg": "#0b1f3a",
        "accent": "#4fc3f7",
        "urgent": "#ff5252",
        "line": "#24497a",
    },
    "light": {
        "bg": "#f4f6f9",
        "fg": "#10243e",
        "muted": "#55657a",
        "panel": "#ffffff",
        "hi": "#c62828",
        "hi_fg": "#ffffff",
        "accent": "#1565c0",
        "urgent": "#c62828",
        "line": "#cfd8e3",
    },
}


def spoken_room(room_name: str, department: str) -> tuple[str, str | None]:
    """What the voice says for a room: ``内科1诊室`` of 内科 → (``1诊室``, ``内科``) so the pack's digit clips
    and the department clip (or the speech engine) say it; other names are said as they are."""
    if department and room_name.startswith(department) and len(room_name) > len(department):
        return room_name[len(department) :], department
    return room_name, None


def choose_screen_name(available: Sequence[str], preferred: str, primary: str) -> str:
    """The screen the display belongs on: the preferred one when plugged in, else the primary."""
    if preferred and preferred in available:
        return preferred
    return primary if primary in available or not available else available[0]


@dataclass
class Timeline:
    """When audio started and ended and when the highlight followed (perf_counter seconds), per call id."""

    audio_start: dict[str, float] = field(default_factory=dict)
    audio_end: dict[str, float] = field(default_factory=dict)
    highlight_on: dict[str, float] = field(default_factory=dict)
    highlight_off: dict[str, float] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # when the display first saw the call
    end_reason: dict[str, str] = field(default_factory=dict)  # finished / watchdog / stopped


def _label(text: str = "") -> QLabel:
    """A display label that never widens the window (long texts are fitted or cut, not pushed out)."""
    label = QLabel(text)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def make_announcer(
    site: SiteConfig, *, player: Player | None = None, name: str = "display"
) -> Announcer | None:
    """The speaker's announcer from the site's voice settings; None when voice is off (``engine = "none"``)."""
    voice = site.voice
    if voice.engine == "none":
        return None
    pack_path = Path(voice.pack).expanduser()
    pack = VoicePack.load(pack_path) if (pack_path / "manifest.json").is_file() else VoicePack.default()
    engine = None
    if voice.engine in ("espeak", "sapi"):
        from shared.audio import engine_from_config

        try:
            engine = engine_from_config(voice.engine)
            if not engine.available():
                engine = None
        except SuiteError as exc:
            log.warning("speech engine %s unavailable: %s", voice.engine, exc.message)
    composer = Composer(pack, ComposeSettings(repeat=voice.repeat, volume=voice.volume), engine=engine)
    return Announcer(composer, player or default_player(), settings=AnnouncerSettings(), name=name)


class DisplayWindow(QWidget):
    """The screen itself; ``show_snapshot`` draws, ``highlight`` marks the call being spoken."""

    def __init__(self, lang: str, *, theme: str = "dark", english: bool = False, hospital: str = "") -> None:
        super().__init__()
        self.lang = lang
        self.english = english and lang != "en"
        self.colours = THEMES.get(theme, THEMES["dark"])
        self.setWindowTitle(t("display.title", lang))
        self.setObjectName("display")
        c = self.colours
        self.setStyleSheet(
            f"QWidget#display {{ background: {c['bg']}; }} QLabel {{ color: {c['fg']}; background: transparent; }}"
        )
        self.setAutoFillBackground(True)

        self.hospital_label = QLabel(hospital)
        self.title_label = QLabel(t("display.title", lang))
        self.offline_label = QLabel("")
        self.backlog_label = QLabel("")
        self.backlog_label.setObjectName("backlog")
        self.clock_label = QLabel()
        header = QHBoxLayout()
        header.addWidget(self.hospital_label)
        header.addWidget(self.title_label)
        header.addStretch(1)
        header.addWidget(self.backlog_label)
        header.addWidget(self.offline_label)
        header.addWidget(self.clock_label)

        self.call_panel = QWidget()
        self.call_panel.setObjectName("callPanel")
        self.call_number = _label(t("display.idle", lang))
        self.call_number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.call_room = _label("")
        self.call_room.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.call_name = _label("")
        self.call_name.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.call_english = _label("")
        self.call_english.setAlignment(Qt.AlignmentFlag.AlignCenter)
        panel_layout = QVBoxLayout(self.call_panel)
        for label in (self.call_number, self.call_room, self.call_name, self.call_english):
            panel_layout.addWidget(label)

        self.recent_title = _label(t("display.recent", lang))
        self.recent_labels = [_label("") for _ in range(RECENT_CALLS)]
        recent = QVBoxLayout()
        recent.addWidget(self.recent_title)
        for label in self.recent_labels:
            recent.addWidget(label)
        recent.addStretch(1)

        left = QVBoxLayout()
        left.addWidget(self.call_panel, 3)
        left.addLayout(recent, 2)

        self.rooms_grid = QGridLayout()
        self.rooms_grid.setHorizontalSpacing(18)
        self.rooms_widget = QWidget()
        self.rooms_widget.setLayout(self.rooms_grid)
        self.skipped_label = _label("")
        self.skipped_label.setWordWrap(True)
        self.skipped_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.waiting_label = _label("")
        self.waiting_label.setWordWrap(True)
        self.waiting_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.page_label = _label("")
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        right = QVBoxLayout()
        right.addWidget(self.rooms_widget)
        right.addWidget(self.page_label)
        right.addStretch(1)
        right.addWidget(self.skipped_label)
        right.addWidget(self.waiting_label)

        body = QHBoxLayout()
        body.addLayout(left, 11)
        body.addLayout(right, 9)

        self.notice_label = _label("")
        self.notice_label.setObjectName("notice")
        self.notice_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        layout = QVBoxLayout(self)
        # Fonts follow the window's height, so the window must be free to shrink below the layout's
        # current minimum (a smaller monitor): the fonts shrink on the resize and everything fits again.
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        layout.addLayout(header)
        layout.addLayout(body, 1)
        layout.addWidget(self.notice_label)

        self.controller: Any = None  # the DisplayController feeding it, once wired
        self.keeper: Any = None  # the ScreenKeeper placing it, once wired
        self.highlighted: model.CallEvent | None = None
        self.current_call: model.CallEvent | None = None
        self._notice_text = ""
        self._notice_offset = 0
        self._room_rows: list[list[QLabel]] = []
        self._room_count = 1
        self.boards: list[model.RoomBoard] = []  # every room to show, over all pages
        self.room_pages: list[list[model.RoomBoard]] = [[]]
        self.page_index = 0
        self._pager = QTimer(self)
        self._pager.setInterval(10_000)
        self._pager.timeout.connect(self.next_page)
        self._pager.start()
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        self._ticker = QTimer(self)
        self._ticker.setInterval(250)
        self._ticker.timeout.connect(self._scroll_notice)
        self._ticker.start()
        self._tick()
        self._apply_sizes()
        self._paint_call_panel()

    # -- sizes: readable from across a room, whatever the resolution ---------------------------------

    def _px(self, size: float) -> int:
        return max(10, int(size * max(self.height(), 480) / 1080))

    def _font(self, size: float, bold: bool = False) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(self._px(size))
        font.setBold(bold)
        return font

    def _size(self, label: QLabel, size: float, bold: bool = False, lines: float = 1.0) -> None:
        """Set a label's font and reserve the height its lines need (labels never widen the window)."""
        font = self._font(size, bold)
        label.setFont(font)
        label.setMinimumHeight(int(QFontMetrics(font).lineSpacing() * lines + 0.5))

    def _apply_sizes(self) -> None:
        c = self.colours
        self.hospital_label.setFont(self._font(40, True))
        self.title_label.setFont(self._font(34))
        self.title_label.setStyleSheet(f"color: {c['muted']}; padding-left: 16px;")
        self.clock_label.setFont(self._font(40, True))
        self.offline_label.setFont(self._font(22))
        self.offline_label.setStyleSheet(f"color: {c['muted']};")
        self.backlog_label.setFont(self._font(28, True))
        self.backlog_label.setStyleSheet(f"color: {c['hi']}; padding-right: 16px;")
        self.page_label.setFont(self._font(26))
        self.page_label.setStyleSheet(f"color: {c['muted']};")
        self._size(self.call_number, 160, True)
        self._size(self.call_room, 72, True)
        self._size(self.call_name, 48)
        self._size(self.call_english, 34)
        self._size(self.recent_title, 36, True)
        self.recent_title.setStyleSheet(f"color: {c['accent']};")
        for label in self.recent_labels:
            self._size(label, 36)
        size = self._room_size()
        for row in self._room_rows:
            for n, label in enumerate(row):
                english = str(label.property("name_en") or "") if n == 0 else ""
                if english:  # the English line's size follows the window too
                    small = self._px(size * 0.6)
                    label.setText(
                        f"{label.property('name_zh')}<br><span style='font-size:{small}px'>{english}</span>"
                    )
                self._size(label, size, n == 1, 1.6 if english else 1.0)
                if n == 2:
                    self._fit_next(label)
        self.skipped_label.setFont(self._font(34))
        self.waiting_label.setFont(self._font(30))
        self.notice_label.setFont(self._font(40, True))

    def _fit_next(self, label: QLabel) -> None:
        """The waiting numbers a row's last column has room for, whole, then "+N" for the rest: a number
        is never cut in half at the screen's edge."""
        numbers = [str(n) for n in getattr(label, "waiting_numbers", [])]
        width = self.rooms_grid.geometry().width() * 6 // 21 - max(0, self.rooms_grid.horizontalSpacing())
        if not numbers or width <= 0:
            return
        metrics = QFontMetrics(label.font())
        shown: list[str] = []
        for n, number in enumerate(numbers):
            rest = len(numbers) - n - 1
            text = "  ".join([*shown, number]) + (f"  +{rest}" if rest else "")
            if shown and metrics.horizontalAdvance(text) > width:
                break
            shown.append(number)
        rest = len(numbers) - len(shown)
        label.setText("  ".join(shown) + (f"  +{rest}" if rest else ""))

    def _room_factor(self) -> float:
        return 0.42 if self.english else 0.56  # font size per row height; an English line takes 0.6 more

    def _room_size(self) -> float:
        """Room rows share the height: fewer rooms, bigger letters."""
        rows = max(1, self._room_count)
        per_row = ROOM_AREA_PX / rows  # of the 1080 design height
        return max(MIN_ROOM_PX, min(52.0, per_row * self._room_factor()))

    def rooms_per_page(self) -> int:
        """How many rooms fit one page at ``MIN_ROOM_PX`` or more (the header takes one row)."""
        design_height = 1080 * self.height() / max(self.width() * 9 / 16, 1)  # taller than 16:9 fits more
        area = ROOM_AREA_PX * max(1.0, design_height / 1080)
        return max(1, int(area * self._room_factor() / MIN_ROOM_PX) - 1)

    def _fit(self, label: QLabel, size: float, bold: bool) -> None:
        """The largest font up to ``size`` at which the label's text fits its width."""
        font = self._font(size, bold)
        width = max(100, self.call_panel.width() - 40)
        while font.pixelSize() > 12 and QFontMetrics(font).horizontalAdvance(label.text()) > width:
            font.setPixelSize(int(font.pixelSize() * 0.9))
        label.setFont(font)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if len(self.room_pages) != len(pages(self.boards, self.rooms_per_page())):
            self.set_rooms(self.boards)
        self._apply_sizes()
        self._paint_call_panel()

    # -- which screen (right-click; the nurse's mouse reaches a display on the desk's second monitor) ---

    def screen_menu(self) -> QMenu:
        """A menu of the plugged-in screens and full screen on/off; picking one moves the display."""
        menu = QMenu(self)
        keeper = self.keeper
        if keeper is None:
            return menu
        screens = menu.addMenu(t("display.menu.screen", self.lang))
        for name in keeper.screen_names():
            action = screens.addAction(name)
            action.setCheckable(True)
            action.setChecked(name == keeper.current)
            action.triggered.connect(lambda _checked=False, n=name: keeper.choose(n))
        full = menu.addAction(t("display.menu.full_screen", self.lang))
        full.setCheckable(True)
        full.setChecked(keeper.full_screen)
        full.triggered.connect(lambda checked: keeper.set_full_screen(bool(checked)))
        return menu

    def contextMenuEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self.screen_menu().exec(event.globalPos())

    # -- drawing -------------------------------------------------------------------------------------

    def set_offline(self, offline: bool) -> None:
        self.offline_label.setText("● " + t("display.offline", self.lang) if offline else "")

    def _tick(self) -> None:
        self.clock_label.setText(clinic_time.now().strftime("%H:%M:%S"))

    def _call_text(self, call: model.CallEvent, lang: str) -> str:
        return t("display.now_calling", lang, label=call.label, room=call.room_name)

    def show_snapshot(self, snapshot: model.DisplaySnapshot) -> None:
        lang = self.lang
        if snapshot.calls and self.current_call is None:
            self.current_call = snapshot.calls[0]
        self._paint_call_panel()
        current_ticket = self.current_call.ticket_id if self.current_call else None
        shown: list[model.CallEvent] = []
        for call in snapshot.calls:  # each ticket once, at its latest call
            if call.ticket_id != current_ticket and all(c.ticket_id != call.ticket_id for c in shown):
                shown.append(call)
        for n, label in enumerate(self.recent_labels):
            recent = shown[n] if n < len(shown) else None
            label.setText(f"{recent.label}  →  {recent.room_name}" if recent else "")
        self.set_rooms(snapshot.rooms)
        c = self.colours
        skipped = "  ".join(snapshot.skipped[:20])
        self.skipped_label.setText(
            f"{t('display.skipped', lang)}：{skipped}\n{t('display.skipped_hint', lang)}" if skipped else ""
        )
        self.skipped_label.setStyleSheet(f"color: {c['hi']};")
        counts = "   ".join(f"{name} {count}" for name, count in snapshot.waiting.items() if count)
        self.waiting_label.setText(f"{t('display.waiting', lang)}：{counts}" if counts else "")
        self.waiting_label.setStyleSheet(f"color: {c['muted']};")
        text = "　　".join(("【!】" if n.level == "urgent" else "") + n.text for n in snapshot.notices)
        if text != self._notice_text:
            self._notice_text = text
            self._notice_offset = -1
            urgent = any(n.level == "urgent" for n in snapshot.notices)
            self.notice_label.setStyleSheet(
                f"color: {c['urgent'] if urgent else c['fg']}; background: {c['panel']}; padding: 6px;"
            )
            self._scroll_notice()
        self.notice_label.setVisible(bool(text))
        self._apply_sizes()

    # -- rooms, in pages ----------------------------------------------------------------------------

    def set_page_seconds(self, seconds: float) -> None:
        self._pager.setInterval(int(seconds * 1000))

    def set_rooms(self, boards: list[model.RoomBoard]) -> None:
        """Every room to show; cut into pages of what fits, the current page kept where it can be."""
        shown = self.room_pages[self.page_index] if self.page_index < len(self.room_pages) else []
        first = shown[0].room.id if shown else None
        self.boards = list(boards)
        self.room_pages = pages(self.boards, self.rooms_per_page())
        again = page_of(self.room_pages, first) if first else None
        self.page_index = again if again is not None else min(self.page_index, len(self.room_pages) - 1)
        self._follow_call()
        self._draw_rooms()

    def next_page(self) -> None:
        """The rotation's step (the page timer); a call being said holds its page."""
        if len(self.room_pages) <= 1 or self._follow_call():
            return
        self.page_index = (self.page_index + 1) % len(self.room_pages)
        self._draw_rooms()

    def _follow_call(self) -> bool:
        """Bring up the page of the room being called; True when a call holds the page."""
        if self.highlighted is None:
            return False
        page = page_of(self.room_pages, self.highlighted.room_id)
        if page is None:
            return False
        if page != self.page_index:
            self.page_index = page
            self._draw_rooms()
        return True

    def _draw_rooms(self) -> None:
        """The current page: name | now | next, one row per room."""
        lang = self.lang
        while self.rooms_grid.count():
            item = self.rooms_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # at once: deleteLater runs after the next paint
                widget.deleteLater()
        self._room_rows = []
        c = self.colours
        head = [
            _label(t("display.rooms", lang)),
            _label(t("display.current", lang)),
            _label(t("display.next", lang)),
        ]
        for n, label in enumerate(head):
            label.setStyleSheet(f"color: {c['accent']}; border-bottom: 2px solid {c['line']};")
            self.rooms_grid.addWidget(label, 0, n)
        self._room_rows.append(head)
        boards = self.room_pages[self.page_index] if self.page_index < len(self.room_pages) else []
        # the same letter size on every page: that of the fullest page (pages are balanced)
        self._room_count = max(len(p) for p in self.room_pages) + 1
        called = self.highlighted.room_id if self.highlighted is not None else None
        for row, board in enumerate(boards, start=1):
            name = _label(board.room.name)
            if self.english and board.room.name_en:  # drawn on two lines by _apply_sizes
                name.setProperty("name_zh", board.room.name)
                name.setProperty("name_en", board.room.name_en)
            now = _label(board.current or ("—" if not board.paused else t("display.paused", lang)))
            now.setStyleSheet(f"color: {c['hi'] if board.current else c['muted']};")
            nxt = _label("  ".join(board.next_labels))
            nxt.waiting_numbers = list(board.next_labels)  # type: ignore[attr-defined]  # fitted by _fit_next
            nxt.setStyleSheet(f"color: {c['muted']};")
            if board.room.id == called:
                name.setStyleSheet(f"color: {c['hi']};")
            for column, label in enumerate((name, now, nxt)):
                self.rooms_grid.addWidget(label, row, column)
            self._room_rows.append([name, now, nxt])
        if not self.boards:
            empty = _label(t("display.no_rooms", lang))
            empty.setStyleSheet(f"color: {c['muted']};")
            self.rooms_grid.addWidget(empty, 1, 0, 1, 3)
            self._room_rows.append([empty])
        for column, stretch in enumerate((11, 4, 6)):
            self.rooms_grid.setColumnStretch(column, stretch)
        count = len(self.room_pages)
        self.page_label.setText(
            t("display.page", lang, page=self.page_index + 1, pages=count) if count > 1 else ""
        )
        self._apply_sizes()
        QTimer.singleShot(0, self._fit_all_next)  # again once the new rows are laid out

    def _fit_all_next(self) -> None:
        for row in self._room_rows:
            if len(row) == 3 and shiboken6.isValid(row[2]):
                self._fit_next(row[2])

    def set_backlog(self, backlog: Backlog | None) -> None:
        """How far behind the speaker is; nothing while no call waits behind the one being said."""
        if backlog is None or not backlog.behind:
            self.backlog_label.setText("")
            return
        seconds = max(1, round(backlog.seconds))
        self.backlog_label.setText(t("display.backlog", self.lang, n=backlog.waiting, seconds=seconds))

    def _scroll_notice(self) -> None:
        text = self._notice_text
        if not text:
            self.notice_label.setText("")
            return
        metrics = self.notice_label.fontMetrics()
        if metrics.horizontalAdvance(text) <= self.notice_label.width() - 20:
            self.notice_label.setText(text)
            return
        looped = text + "　　　　"
        self._notice_offset = (self._notice_offset + 1) % len(looped)
        self.notice_label.setText((looped[self._notice_offset :] + looped)[: len(looped)])

    def highlight(self, call: model.CallEvent | None) -> None:
        """Show ``call`` large and highlighted (None: keep the last call shown, not highlighted)."""
        self.highlighted = call
        if call is not None:
            self.current_call = call
        self._paint_call_panel()
        if not self._follow_call():
            self._draw_rooms()  # the called room's name is marked while it is said

    def _paint_call_panel(self) -> None:
        c = self.colours
        call = self.current_call
        on = self.highlighted is not None
        self.call_panel.setStyleSheet(
            f"QWidget#callPanel {{ background: {c['hi'] if on else c['panel']}; border-radius: 18px; }}"
        )
        colour = c["hi_fg"] if on else c["fg"]
        for label in (self.call_number, self.call_room, self.call_name, self.call_english):
            label.setStyleSheet(f"color: {colour};")
        if call is None:
            self.call_number.setText(t("display.idle", self.lang))
            self.call_number.setFont(self._font(90, True))
            for label in (self.call_room, self.call_name, self.call_english):
                label.setText("")
            return
        self.call_number.setText(call.label)
        self.call_room.setText(call.room_name)
        self.call_name.setText(call.masked_name)
        self.call_english.setText(
            t("display.now_calling", "en", label=call.label, room=call.room_name_en or call.room_name)
            if self.english
            else ""
        )
        for label, size, bold in (
            (self.call_number, 160, True),
            (self.call_room, 72, True),
            (self.call_name, 48, False),
            (self.call_english, 34, False),
        ):
            self._fit(label, size, bold)


class DisplayController(QObject):
    """Feeds a ``DisplayWindow`` from the local store and drives the speaker (see the module docstring)."""

    sig_audio_started = Signal(str, float)  # call id, duration
    sig_audio_ended = Signal(str, str)  # call id, reason
    sig_audio_failed = Signal(str)  # call id
    sig_refreshed = Signal()

    def __init__(
        self,
        state: TriageState,
        window: DisplayWindow,
        *,
        announcer: Announcer | None = None,
        codes: Sequence[str] = (),
    ) -> None:
        super().__init__(window)
        self.state = state
        self.window = window
        self.announcer = announcer
        self.codes = list(codes)
        self.timeline = Timeline()
        self.announced: list[model.CallEvent] = []
        self.said: list[Call] = []  # what was handed to the speaker, as it was to be said
        self.rooms_said: dict[str, tuple[str, str]] = {}  # room id -> (name, department), in scope
        display = state.site.display
        self.scope = DisplayScope(tuple(display.departments), tuple(display.rooms), display.hide_idle_rooms)
        window.set_page_seconds(display.page_seconds)
        self._seen: set[tuple[str, int]] | None = None
        self._by_call_id: dict[str, model.CallEvent] = {}
        self._silent_timer = QTimer(self)
        self._silent_timer.setSingleShot(True)
        self._silent_timer.timeout.connect(lambda: self._end_highlight(None))
        self._loading = False
        self._again = False
        self.sig_audio_started.connect(self._audio_started)
        self.sig_audio_ended.connect(self._audio_ended)
        self.sig_audio_failed.connect(self._audio_failed)
        state.runtime.bus.sig_operation_did_execute.connect(self._changed)
        state.runtime.network.sig_status_changed.connect(self._status)
        self._status(state.runtime.network.last_status)
        self._poll = QTimer(self)
        self._poll.setInterval(20_000)  # waiting counts and notices that end by themselves
        self._poll.timeout.connect(self.refresh)
        self._poll.start()
        if announcer is not None:
            announcer.on_start = lambda call, duration: self._relay_start(call, duration)
            announcer.on_end = lambda call, reason: self._relay_end(call, reason)
            announcer.on_error = lambda call, error: self.sig_audio_failed.emit(call.call_id)
            announcer.start()
        self._backlog = QTimer(self)
        self._backlog.setInterval(1000)
        self._backlog.timeout.connect(self.show_backlog)
        self._backlog.start()

    def show_backlog(self) -> None:
        """How far behind the speaker is, on the screen (every second)."""
        self.window.set_backlog(self.announcer.backlog() if self.announcer is not None else None)

    def _relay_start(self, call: Call, duration: float) -> None:
        self.timeline.audio_start[call.call_id] = time.perf_counter()  # the player has begun (worker thread)
        self.sig_audio_started.emit(call.call_id, duration)

    def _relay_end(self, call: Call, reason: str) -> None:
        self.timeline.audio_end[call.call_id] = time.perf_counter()  # the player has stopped (worker thread)
        self.sig_audio_ended.emit(call.call_id, reason)

    def _status(self, status: SyncStatus) -> None:
        self.window.set_offline(status.state in (SyncState.OFFLINE, SyncState.AUTH_EXPIRED))

    def _changed(self, changes: OpChanges, _initiator: object) -> None:
        if changes.touches(*QUEUE_KINDS, "room"):
            self.refresh()

    def refresh(self) -> None:
        """Read the snapshot again (coalesced: one read in flight, one more queued at most)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        campus = self.state.campus_id
        now = self.state.now()
        codes = self.codes
        scope = self.scope
        QueryOp(
            parent=self,
            context=self.state.runtime.context,
            op=lambda store: screen_data(store, campus, now, codes, scope),
            success=self._show,
        ).failure(self._failed).run_in_background()

    def _failed(self, error: BaseException) -> None:
        self._loading = False
        log.error("display refresh failed: %s", error)

    def _show(self, data: ScreenData) -> None:
        self._loading = False
        snapshot = data.snapshot
        self.rooms_said = data.rooms_said
        self.window.show_snapshot(snapshot)
        first = self._seen is None
        seen = self._seen or set()
        fresh = [c for c in reversed(snapshot.calls) if c.key not in seen]  # oldest first
        self._seen = seen | {c.key for c in snapshot.calls}
        if not first:
            for call in fresh:
                if call.live:
                    self.announce(call)
                else:  # the patient moved on before this PC heard of the call (e.g. it came in late)
                    log.info("not announcing %s: no longer called", call.label)
        self.sig_refreshed.emit()
        if self._again:
            self._again = False
            self.refresh()

    def announce(self, event: model.CallEvent) -> None:
        """Say a new call (or show it highlighted for a while when this display has no speaker)."""
        self.announced.append(event)
        room, department = spoken_room(event.room_name, event.department)
        if department and self.rooms_said and not spoken_department(event.room_id, self.rooms_said):
            department = None  # no other room here sounds the same: the shorter call is enough
        call = Call(
            ticket_id=event.ticket_id,
            number=event.label,
            room=room or event.label,
            made_at=event.at.timestamp(),
            department=department,
        )
        self._by_call_id[call.call_id] = event
        self.said.append(call)
        self.timeline.seen[call.call_id] = time.perf_counter()
        if self.announcer is None:
            self._highlight(call.call_id, event)
            self._silent_timer.start(int(SILENT_HIGHLIGHT_S * 1000))
            return
        result = self.announcer.submit(call)
        if result == "stale":
            log.info("call %s went stale before it could be announced", event.label)

    def _highlight(self, call_id: str, event: model.CallEvent) -> None:
        self.timeline.highlight_on[call_id] = time.perf_counter()
        self.window.highlight(event)

    def _audio_started(self, call_id: str, _duration: float) -> None:
        event = self._by_call_id.get(call_id)
        if event is not None:
            self._highlight(call_id, event)

    def _audio_ended(self, call_id: str, reason: str) -> None:
        self.timeline.end_reason[call_id] = reason
        self._end_highlight(call_id)

    def _audio_failed(self, call_id: str) -> None:
        event = self._by_call_id.get(call_id)
        if event is not None:  # no sound: still show it for a while
            self._highlight(call_id, event)
            self._silent_timer.start(int(SILENT_HIGHLIGHT_S * 1000))

    def _end_highlight(self, call_id: str | None) -> None:
        if call_id is not None:
            self.timeline.highlight_off[call_id] = time.perf_counter()
        self.window.highlight(None)

    def stop(self) -> None:
        self._poll.stop()
        self._backlog.stop()
        if self.announcer is not None:
            self.announcer.stop()


class ScreenKeeper(QObject):
    """Keeps the display window on its monitor (see the module docstring).

    ``preferred`` is the screen IT configured (``display.screen_name`` or ``--screen``); without one the
    screen last chosen on this PC (QSettings ``display/screen_name``) is used. ``choose(name)`` is the
    nurse picking a screen from the display's context menu: it becomes the preferred one and is
    remembered. ``screens`` lists the plugged-in screens (tests replace it to unplug one).
    """

    sig_moved = Signal(str)  # the screen name the window now uses

    def __init__(
        self,
        window: QWidget,
        *,
        preferred: str = "",
        full_screen: bool = True,
        settings: QSettings | None = None,
        screens: Callable[[], list[QScreen]] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.full_screen = full_screen
        self.settings = settings if settings is not None else QSettings()
        self.preferred = preferred or str(self.settings.value(SETTINGS_KEY, "") or "")
        self._screens = screens or QGuiApplication.screens
        app = QGuiApplication.instance()
        assert isinstance(app, QGuiApplication)
        # Qt updates its screen list after these signals: place the window once the change has settled.
        app.screenAdded.connect(lambda _screen: QTimer.singleShot(0, self.place))
        app.screenRemoved.connect(lambda _screen: QTimer.singleShot(0, self.place))
        app.primaryScreenChanged.connect(lambda _screen: QTimer.singleShot(0, self.place))
        self.current = ""

    def screen_names(self) -> list[str]:
        return [s.name() for s in self._screens()]

    def target(self) -> QScreen | None:
        screens = self._screens()
        primary = QGuiApplication.primaryScreen()
        primary_name = primary.name() if primary is not None else ""
        name = choose_screen_name([s.name() for s in screens], self.preferred, primary_name)
        return next((s for s in screens if s.name() == name), screens[0] if screens else primary)

    def choose(self, name: str) -> str:
        """Put the display on screen ``name`` from now on (remembered on this PC)."""
        self.preferred = name
        self.settings.setValue(SETTINGS_KEY, name)
        self.settings.sync()
        return self.place()

    def set_full_screen(self, full_screen: bool) -> str:
        self.full_screen = full_screen
        return self.place()

    def place(self) -> str:
        """Put the window on its screen (full screen or a window on it); returns the screen name used."""
        screen = self.target()
        if screen is None:
            return ""
        window = self.window
        geometry = screen.geometry()
        if window.isFullScreen():
            window.showNormal()  # a full-screen window moves only once it is normal again
        handle = window.windowHandle()
        if handle is not None:
            handle.setScreen(screen)
        if self.full_screen:
            window.setGeometry(geometry)
            window.showFullScreen()
        else:
            window.resize(min(1280, geometry.width()), min(720, geometry.height()))
            window.move(geometry.topLeft())
            window.show()
        if screen.name() != self.current:
            log.info("waiting-room display on screen %s", screen.name())
            self.current = screen.name()
            self.sig_moved.emit(self.current)
        return self.current
