"""One announcer per speaker: a FIFO of calls, rendered before playing, highlight callbacks, a watchdog.

Rules, in the order they apply:

* A call made longer ago than ``stale_after_s`` is dropped (``on_drop(call, "stale")``), when it is
  submitted and again when its turn comes: calls queued up during an outage must not all be shouted
  out when the network comes back.
* A call for a ticket (and kind) that is already waiting replaces the waiting one in its place
  (``"merged"``): pressing "recall" three times says it once. A recall of the ticket being spoken
  right now is merged into it too: the patient is hearing it.
* Nothing ever cuts off the call being spoken; new calls wait their turn.
* Each call is rendered completely first, so its duration is known; ``on_start(call, duration)`` fires
  when the player reports the sound has begun and ``on_end(call, reason)`` when it has really ended
  (``"finished"``), or when the watchdog gives up after duration + margin (``"watchdog"``), or when
  the announcer is stopped (``"stopped"``). ``on_error(call, error)`` reports a call that could not be
  rendered or played; it gets no ``on_start``/``on_end``.

How far behind the speaker is: ``backlog()`` gives the number of calls waiting behind the one being
said and about how long until the newest of them will have been said (what is left of the current call
plus the waiting calls at the length of the calls said lately); a screen shows it so a nurse sees the
speaker falling behind before patients complain.

Threading: ``start()`` runs a worker thread that calls ``process_next()`` in a loop; all callbacks run
on that thread (a Qt window must hand them to its GUI thread, e.g. by emitting a signal). ``submit`` is
safe from any thread. Tests call ``process_next()`` directly with a fake clock.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from shared.audio.compose import Announcement, Composer, Kind, RenderedAnnouncement
from shared.audio.players import SYSTEM_CLOCK, Clock, Playback, Player
from shared.domain.masking import mask_name
from shared.errors import SuiteError

log = logging.getLogger(__name__)

SubmitResult = Literal["queued", "merged", "stale"]
EndReason = Literal["finished", "watchdog", "stopped"]
DropReason = Literal["stale", "merged", "queue_full"]


@dataclass(frozen=True)
class Call:
    """A call to announce. ``made_at`` is the epoch time the nurse made it (from the call's record)."""

    ticket_id: str
    number: str
    room: str
    made_at: float
    kind: Kind = "call"
    department: str | None = None
    name: str | None = None
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def key(self) -> tuple[str, str]:
        return (self.ticket_id, self.kind)

    def announcement(self) -> Announcement:
        return Announcement(self.number, self.room, self.kind, self.department, self.name)

    def __repr__(self) -> str:  # names never reach the logs unmasked
        name = f", name={mask_name(self.name)!r}" if self.name else ""
        return f"Call({self.number!r}, room={self.room!r}, kind={self.kind}{name})"


@dataclass(frozen=True)
class AnnouncerSettings:
    stale_after_s: float = 180.0
    watchdog_margin_s: float = 3.0
    max_queue: int = 50
    expected_call_s: float = 6.0  # a call's length for the backlog estimate until one has been rendered


@dataclass(frozen=True)
class Backlog:
    """How far behind a speaker is: ``waiting`` calls queued behind the one being said (``speaking``),
    and ``seconds`` (an estimate) until the last of them will have been said."""

    waiting: int
    seconds: float
    speaking: bool

    @property
    def behind(self) -> bool:
        return self.waiting > 0


class Announcer:
    """The FIFO announcer of one speaker (see the module docstring for the rules and threading)."""

    def __init__(
        self,
        composer: Composer,
        player: Player,
        *,
        settings: AnnouncerSettings | None = None,
        clock: Clock = SYSTEM_CLOCK,
        on_start: Callable[[Call, float], None] | None = None,
        on_end: Callable[[Call, EndReason], None] | None = None,
        on_drop: Callable[[Call, DropReason], None] | None = None,
        on_error: Callable[[Call, SuiteError], None] | None = None,
        name: str = "speaker",
    ) -> None:
        self.composer = composer
        self.player = player
        self.settings = settings or AnnouncerSettings()
        self.clock = clock
        self.on_start = on_start or (lambda call, duration: None)
        self.on_end = on_end or (lambda call, reason: None)
        self.on_drop = on_drop or (lambda call, reason: None)
        self.on_error = on_error or (lambda call, error: None)
        self.name = name
        self._queue: list[Call] = []
        self._current: Call | None = None
        self._current_ends: float | None = None  # clock time the call being said should end
        self._lengths: list[float] = []  # the last few rendered lengths (for the backlog estimate)
        self._playback: Playback | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- queue ---------------------------------------------------------------------------------

    def is_stale(self, call: Call) -> bool:
        return self.clock.now() - call.made_at > self.settings.stale_after_s

    def submit(self, call: Call) -> SubmitResult:
        """Queue a call (any thread). Returns what happened to it; drops are also reported by ``on_drop``."""
        if self.is_stale(call):
            log.info(
                "%s: dropping stale %r (made %.0f s ago)", self.name, call, self.clock.now() - call.made_at
            )
            self.on_drop(call, "stale")
            return "stale"
        dropped: list[tuple[Call, DropReason]] = []
        with self._cond:
            result: SubmitResult = "queued"
            if self._current is not None and self._current.key == call.key:
                dropped.append((call, "merged"))
                result = "merged"
            else:
                for i, queued in enumerate(self._queue):
                    if queued.key == call.key:
                        self._queue[i] = call  # newest details, oldest place in the line
                        dropped.append((queued, "merged"))
                        result = "merged"
                        break
                else:
                    self._queue.append(call)
                    while len(self._queue) > self.settings.max_queue:
                        dropped.append((self._queue.pop(0), "queue_full"))
            self._cond.notify_all()
        for dropped_call, reason in dropped:
            log.info("%s: %s %r", self.name, reason, dropped_call)
            self.on_drop(dropped_call, reason)
        return result

    def pending(self) -> list[Call]:
        with self._cond:
            return list(self._queue)

    def backlog(self) -> Backlog:
        """How many calls wait behind the current one and about how long until they are all said
        (any thread)."""
        with self._cond:
            waiting = len(self._queue)
            speaking = self._current is not None
            ends = self._current_ends
            lengths = list(self._lengths)
        each = sum(lengths) / len(lengths) if lengths else self.settings.expected_call_s
        left = (
            max(0.0, ends - self.clock.now())
            if speaking and ends is not None
            else (each if speaking else 0.0)
        )
        return Backlog(waiting, left + waiting * each, speaking)

    @property
    def current(self) -> Call | None:
        with self._cond:
            return self._current

    def _take(self) -> Call | None:
        while True:
            with self._cond:
                if not self._queue:
                    return None
                call = self._queue.pop(0)
                if not self.is_stale(call):
                    self._current = call
                    return call
            log.info("%s: %r went stale while waiting", self.name, call)
            self.on_drop(call, "stale")

    # --- playing ---------------------------------------------------------------------------------

    def process_next(self) -> bool:
        """Render and play the next call to its end (blocking). False when there was nothing to do."""
        call = self._take()
        if call is None:
            return False
        try:
            self._announce(call)
        finally:
            with self._cond:
                self._current = None
                self._current_ends = None
                self._playback = None
                self._cond.notify_all()
        return True

    def _announce(self, call: Call) -> None:
        try:
            audio: RenderedAnnouncement = self.composer.render(call.announcement())
            playback = self.player.start(audio)
        except SuiteError as exc:
            log.error("%s: cannot announce %r: %s", self.name, call, exc.message)
            self.on_error(call, exc)
            return
        with self._cond:
            self._playback = playback
            self._current_ends = self.clock.now() + audio.duration
            self._lengths = [*self._lengths[-4:], audio.duration]
        log.info("%s: announcing %r (%.2f s): %s", self.name, call, audio.duration, audio.text)
        self.on_start(call, audio.duration)
        finished = playback.wait(audio.duration + self.settings.watchdog_margin_s)
        with self._cond:
            stopping = self._stopping
        reason: EndReason = "stopped" if stopping else "finished" if finished else "watchdog"
        if reason == "watchdog":
            log.warning(
                "%s: player still busy %.1f s after %r should have ended; stopping it",
                self.name,
                self.settings.watchdog_margin_s,
                call,
            )
        if not finished:
            playback.stop()
        self.on_end(call, reason)

    # --- worker thread -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the queue on a daemon worker thread until ``stop()``."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=f"announcer-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
            try:
                self.process_next()
            except Exception:  # noqa: BLE001 - the speaker must keep working after a bug in one call
                log.exception("%s: unexpected error while announcing", self.name)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker; a call being spoken is cut off (``on_end(call, "stopped")``), queued ones are kept."""
        with self._cond:
            self._stopping = True
            playback = self._playback
            thread = self._thread
            self._cond.notify_all()
        if playback is not None:
            playback.stop()
        if thread is not None:
            thread.join(timeout)
        with self._cond:
            self._thread = None

    def wait_idle(self, timeout: float) -> bool:
        """Block until the queue is empty and nothing is playing (for shutdown and tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self._current is None, timeout)
