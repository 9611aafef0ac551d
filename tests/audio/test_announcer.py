"""The announcer: FIFO without cutting off, merged recalls, stale calls dropped, highlight timed by playback."""

from __future__ import annotations

import sys
import threading
import time
from array import array
from pathlib import Path

import pytest

from shared.audio.announcer import Announcer, AnnouncerSettings, Call
from shared.audio.compose import Composer, ComposeSettings, RenderedAnnouncement, Segment
from shared.audio.pcm import AudioError
from shared.audio.players import (
    FilePlayer,
    NullPlayer,
    Playback,
    SubprocessPlayer,
    SystemClock,
)
from shared.audio.voicepack import VoicePack
from tests.audio.conftest import FakeClock, read_wav_samples


class Journal:
    """Collects the announcer's callbacks with the (fake) time at which they happened."""

    def __init__(self, clock: FakeClock | SystemClock) -> None:
        self.clock = clock
        self.events: list[tuple[str, str, float, object]] = []
        self.lock = threading.Lock()

    def _add(self, kind: str, call: Call, extra: object) -> None:
        with self.lock:
            self.events.append((kind, call.number, self.clock.now(), extra))

    def start(self, call: Call, duration: float) -> None:
        self._add("start", call, duration)

    def end(self, call: Call, reason: str) -> None:
        self._add("end", call, reason)

    def drop(self, call: Call, reason: str) -> None:
        self._add("drop", call, reason)

    def error(self, call: Call, error: object) -> None:
        self._add("error", call, error)

    def of(self, kind: str) -> list[tuple[str, str, float, object]]:
        return [e for e in self.events if e[0] == kind]


def make(
    clock: FakeClock,
    player: object | None = None,
    *,
    composer: object | None = None,
    settings: AnnouncerSettings | None = None,
) -> tuple[Announcer, Journal]:
    journal = Journal(clock)
    announcer = Announcer(
        composer or Composer(VoicePack.default(), ComposeSettings(repeat=1)),  # type: ignore[arg-type]
        player or NullPlayer(clock),  # type: ignore[arg-type]
        settings=settings,
        clock=clock,
        on_start=journal.start,
        on_end=journal.end,
        on_drop=journal.drop,
        on_error=journal.error,
    )
    return announcer, journal


def call(
    clock: FakeClock, number: str, *, ticket: str | None = None, room: str = "3诊室", ago: float = 0.0
) -> Call:
    return Call(ticket_id=ticket or f"t-{number}", number=number, room=room, made_at=clock.now() - ago)


class HangingPlayer:
    """A player whose sound never reports its end (a stuck audio device)."""

    name = "hanging"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.stopped = 0

    def start(self, audio: RenderedAnnouncement) -> Playback:
        player = self

        class Stuck:
            def wait(self, timeout: float) -> bool:
                player.clock.sleep(timeout)
                return False

            def stop(self) -> None:
                player.stopped += 1

        return Stuck()


class ShortComposer:
    """Renders every call as a fixed short beep, for tests about timing rather than words."""

    def __init__(self, seconds: float = 0.3, rate: int = 16000) -> None:
        self.pcm = array("h", [3000, -3000] * int(seconds * rate / 2))
        self.rate = rate

    def render(self, announcement: object) -> RenderedAnnouncement:
        segment = Segment("speech", "beep", 0, len(self.pcm), 0)
        return RenderedAnnouncement(self.pcm, self.rate, (segment,), "beep")


def test_calls_are_announced_first_in_first_out(clock: FakeClock) -> None:
    announcer, journal = make(clock)
    for number in ("A001", "A002", "A003"):
        assert announcer.submit(call(clock, number)) == "queued"

    while announcer.process_next():
        pass

    assert [e[1] for e in journal.of("start")] == ["A001", "A002", "A003"]
    assert [e[3] for e in journal.of("end")] == ["finished"] * 3


def test_a_new_call_never_cuts_off_the_one_being_spoken(clock: FakeClock) -> None:
    announcer, journal = make(clock)
    announcer.submit(call(clock, "A001"))

    def nurse_calls_again(c: Call, duration: float) -> None:
        journal.start(c, duration)
        if c.number == "A001":
            assert announcer.submit(call(clock, "A002")) == "queued"

    announcer.on_start = nurse_calls_again
    while announcer.process_next():
        pass

    kinds = [(e[0], e[1]) for e in journal.events]
    assert kinds == [("start", "A001"), ("end", "A001"), ("start", "A002"), ("end", "A002")]
    first_start, first_end = journal.of("start")[0][2], journal.of("end")[0][2]
    assert first_end - first_start == pytest.approx(journal.of("start")[0][3])  # spoken to its end


def test_repeated_recalls_of_a_waiting_ticket_merge_into_one_in_its_place(clock: FakeClock) -> None:
    announcer, journal = make(clock)
    assert announcer.submit(call(clock, "A001")) == "queued"
    assert announcer.submit(call(clock, "A002")) == "queued"
    clock.sleep(5)
    recall = call(clock, "A001", room="5诊室")
    assert announcer.submit(recall) == "merged"
    assert announcer.submit(call(clock, "A001", room="5诊室")) == "merged"

    assert [c.number for c in announcer.pending()] == ["A001", "A002"]
    assert announcer.pending()[0].room == "5诊室"  # newest details, oldest place
    while announcer.process_next():
        pass
    assert [e[1] for e in journal.of("start")] == ["A001", "A002"]
    assert [e[3] for e in journal.of("drop")] == ["merged", "merged"]


def test_a_recall_of_the_ticket_being_spoken_is_merged_into_it(clock: FakeClock) -> None:
    announcer, journal = make(clock)
    announcer.submit(call(clock, "A001"))
    results: list[str] = []

    def recall_during_playback(c: Call, duration: float) -> None:
        journal.start(c, duration)
        results.append(announcer.submit(call(clock, "A001")))

    announcer.on_start = recall_during_playback
    while announcer.process_next():
        pass
    assert results == ["merged"]
    assert len(journal.of("start")) == 1


def test_a_call_and_a_prepare_for_the_same_ticket_are_both_said(clock: FakeClock) -> None:
    announcer, journal = make(clock)
    announcer.submit(call(clock, "A001"))
    prepare = Call("t-A001", "A001", "3诊室", clock.now(), kind="prepare")
    assert announcer.submit(prepare) == "queued"
    while announcer.process_next():
        pass
    assert [e[1] for e in journal.of("start")] == ["A001", "A001"]


def test_calls_made_long_ago_while_offline_are_dropped(clock: FakeClock) -> None:
    announcer, journal = make(clock, settings=AnnouncerSettings(stale_after_s=120))
    assert announcer.submit(call(clock, "A001", ago=600)) == "stale"
    assert announcer.submit(call(clock, "A002", ago=30)) == "queued"

    while announcer.process_next():
        pass
    assert [e[1] for e in journal.of("start")] == ["A002"]
    assert [(e[1], e[3]) for e in journal.of("drop")] == [("A001", "stale")]


def test_a_call_that_goes_stale_while_waiting_its_turn_is_dropped(clock: FakeClock) -> None:
    announcer, journal = make(
        clock, composer=ShortComposer(50.0), settings=AnnouncerSettings(stale_after_s=40)
    )
    announcer.submit(call(clock, "A001"))
    announcer.submit(call(clock, "A002"))

    while announcer.process_next():
        pass
    assert [e[1] for e in journal.of("start")] == ["A001"]
    assert [(e[1], e[3]) for e in journal.of("drop")] == [("A002", "stale")]


def test_the_highlight_follows_the_rendered_audio(clock: FakeClock, tmp_path: Path) -> None:
    player = FilePlayer(tmp_path / "played", clock)
    announcer, journal = make(clock, player)
    announcer.submit(call(clock, "A023"))
    announcer.submit(call(clock, "B007", room="12诊室"))

    while announcer.process_next():
        pass

    for (_, number, started, duration), (_, number_end, ended, reason), wav in zip(
        journal.of("start"), journal.of("end"), player.played, strict=True
    ):
        samples, rate = read_wav_samples(wav)
        assert number == number_end and reason == "finished"
        assert duration == pytest.approx(len(samples) / rate)  # the length was known before playing
        assert ended - started == pytest.approx(len(samples) / rate)  # and the highlight lasted exactly that
    assert journal.of("start")[1][2] == pytest.approx(journal.of("end")[0][2])  # back to back


def test_the_watchdog_ends_the_highlight_when_the_player_hangs(clock: FakeClock) -> None:
    player = HangingPlayer(clock)
    announcer, journal = make(clock, player, settings=AnnouncerSettings(watchdog_margin_s=2.5))
    announcer.submit(call(clock, "A001"))
    announcer.submit(call(clock, "A002"))

    while announcer.process_next():
        pass

    (_, _, started, duration), _ = journal.of("start")
    (_, _, ended, reason), _ = journal.of("end")
    assert reason == "watchdog"
    assert ended - started == pytest.approx(duration + 2.5)
    assert player.stopped == 2
    assert [e[1] for e in journal.of("start")] == ["A001", "A002"]  # the speaker keeps working


def test_a_call_that_cannot_be_rendered_is_reported_and_the_queue_goes_on(clock: FakeClock) -> None:
    announcer, journal = make(clock)
    announcer.submit(call(clock, "A001", room="没有录音的房间"))
    announcer.submit(call(clock, "A002"))

    while announcer.process_next():
        pass
    ((_, number, _, error),) = journal.of("error")
    assert number == "A001" and isinstance(error, AudioError)
    assert [e[1] for e in journal.of("start")] == ["A002"]


def test_an_overflowing_queue_drops_its_oldest_call(clock: FakeClock) -> None:
    announcer, journal = make(clock, settings=AnnouncerSettings(max_queue=2))
    for number in ("A001", "A002", "A003"):
        announcer.submit(call(clock, number))
    assert [c.number for c in announcer.pending()] == ["A002", "A003"]
    assert [(e[1], e[3]) for e in journal.of("drop")] == [("A001", "queue_full")]


def test_names_stay_masked_in_the_calls_repr() -> None:
    assert "张*三" in repr(Call("t", "A1", "1", 0.0, name="张小三"))
    assert "小" not in repr(Call("t", "A1", "1", 0.0, name="张小三"))


def test_the_worker_thread_plays_calls_in_real_time() -> None:
    clock = SystemClock()
    journal = Journal(clock)
    announcer = Announcer(
        ShortComposer(0.3),  # type: ignore[arg-type]
        NullPlayer(clock),
        on_start=journal.start,
        on_end=journal.end,
    )
    announcer.start()
    try:
        for number in ("A001", "A002"):
            announcer.submit(Call(f"t-{number}", number, "1", time.time()))
        assert announcer.wait_idle(10)
    finally:
        announcer.stop()
    starts, ends = journal.of("start"), journal.of("end")
    assert [e[1] for e in starts] == ["A001", "A002"]
    for start, end in zip(starts, ends, strict=True):
        assert 0.25 < end[2] - start[2] < 2.0  # generous: the point is that it waits for the sound
    assert ends[0][2] <= starts[1][2]


def test_stopping_cuts_off_the_current_call() -> None:
    clock = SystemClock()
    journal = Journal(clock)
    announcer = Announcer(ShortComposer(30), NullPlayer(clock), on_start=journal.start, on_end=journal.end)  # type: ignore[arg-type]
    announcer.start()
    announcer.submit(Call("t-1", "A001", "1", time.time()))
    deadline = time.time() + 5
    while not journal.of("start") and time.time() < deadline:
        time.sleep(0.01)
    announcer.stop()
    assert [e[3] for e in journal.of("end")] == ["stopped"]


@pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX python as the 'player'")
def test_the_subprocess_player_ends_when_the_process_ends_and_is_killed_when_it_hangs() -> None:
    clock = SystemClock()
    plays = [
        sys.executable,
        "-c",
        "import sys, wave, time; w = wave.open(sys.argv[1]); time.sleep(w.getnframes() / w.getframerate())",
    ]
    hangs = [sys.executable, "-c", "import time; time.sleep(60)"]
    for command, expected in ((plays, "finished"), (hangs, "watchdog")):
        journal = Journal(clock)
        announcer = Announcer(
            ShortComposer(0.3),  # type: ignore[arg-type]
            SubprocessPlayer(command),
            settings=AnnouncerSettings(watchdog_margin_s=1.0),
            on_start=journal.start,
            on_end=journal.end,
        )
        announcer.submit(Call("t-1", "A001", "1", time.time()))
        assert announcer.process_next()
        ((_, _, started, _),) = journal.of("start")
        ((_, _, ended, reason),) = journal.of("end")
        assert reason == expected
        assert 0.25 < ended - started < (1.5 if expected == "finished" else 3.0)


def test_the_backlog_says_how_many_calls_wait_and_about_how_long_until_they_are_said(
    clock: FakeClock,
) -> None:
    announcer, journal = make(clock, composer=ShortComposer(4.0))
    assert announcer.backlog().waiting == 0 and announcer.backlog().seconds == 0.0
    for number in ("A001", "A002", "A003"):
        announcer.submit(call(clock, number))
    before = announcer.backlog()
    assert before.waiting == 3 and not before.speaking
    assert before.seconds == pytest.approx(3 * AnnouncerSettings().expected_call_s)  # nothing rendered yet

    seen: list[object] = []

    def halfway(c: Call, duration: float) -> None:
        journal.start(c, duration)
        clock.sleep(1.0)  # one second into the call
        seen.append(announcer.backlog())

    announcer.on_start = halfway
    announcer.process_next()
    during = seen[0]
    assert during.speaking and during.waiting == 2  # type: ignore[attr-defined]
    # 3 s left of this call, then two more calls of the length just rendered (4 s)
    assert during.seconds == pytest.approx(3.0 + 2 * 4.0)  # type: ignore[attr-defined]
    while announcer.process_next():
        pass
    assert announcer.backlog() == type(before)(0, 0.0, False)
