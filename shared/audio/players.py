"""Players for rendered announcements: a sound-server subprocess, Windows winsound, and null/file players.

A player's ``start`` returns once the sound has begun and gives back a ``Playback`` whose ``wait``
returns when it has really ended; the announcer drives the display highlight from those two moments.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shared.audio.pcm import AudioError
from shared.i18n import register, tr

if TYPE_CHECKING:
    from shared.audio.compose import RenderedAnnouncement

log = logging.getLogger(__name__)

register(
    "audio.player_failed",
    {
        "zh_CN": "无法播放声音（{player}）：{reason}",
        "en": "Cannot play sound ({player}): {reason}",
        "zh_TW": "無法播放聲音（{player}）：{reason}",
    },
)


class Clock(Protocol):
    """Wall-clock seconds (epoch) and sleeping; tests pass a fake one that sleeps by advancing."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class Playback(Protocol):
    """One sound being played."""

    def wait(self, timeout: float) -> bool:
        """Block until playback ends (True) or ``timeout`` seconds pass (False)."""
        ...

    def stop(self) -> None:
        """Cut the sound off (used by the watchdog and on shutdown)."""
        ...


class Player(Protocol):
    """Plays rendered announcements, one at a time, from the announcer's worker thread."""

    name: str

    def start(self, audio: RenderedAnnouncement) -> Playback:
        """Begin playing and return once the sound has started; raise AudioError if it cannot."""
        ...


class TimedPlayback:
    """A playback that lasts exactly the audio's duration on ``clock`` (no sound device involved)."""

    def __init__(self, duration: float, clock: Clock) -> None:
        self.duration = duration
        self.clock = clock
        self.started = clock.now()
        self._stopped = threading.Event()

    def wait(self, timeout: float) -> bool:
        remaining = self.duration - (self.clock.now() - self.started)
        if self._stopped.is_set() or remaining <= 0:
            return True
        if remaining <= timeout:
            self._sleep(remaining)
            return True
        self._sleep(timeout)
        return self._stopped.is_set()

    def _sleep(self, seconds: float) -> None:
        if isinstance(self.clock, SystemClock):
            self._stopped.wait(max(0.0, seconds))  # real time: wake up at once when stopped
        else:
            self.clock.sleep(seconds)

    def stop(self) -> None:
        self._stopped.set()


class NullPlayer:
    """For PCs without a sound device: silent, but keeps the real duration so highlights still time right."""

    name = "null"

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock

    def start(self, audio: RenderedAnnouncement) -> Playback:
        return TimedPlayback(audio.duration, self.clock)


class FilePlayer(NullPlayer):
    """Writes every announcement to ``folder`` as numbered WAV files (tests, support, headless PCs)."""

    name = "file"

    def __init__(self, folder: Path | str, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(clock)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.played: list[Path] = []

    def start(self, audio: RenderedAnnouncement) -> Playback:
        path = audio.write_wav(self.folder / f"{len(self.played) + 1:04d}.wav")
        self.played.append(path)
        return super().start(audio)


class _ProcessPlayback:
    def __init__(self, process: subprocess.Popen[bytes], path: Path, player: str) -> None:
        self.process = process
        self.path = path
        self.player = player

    def wait(self, timeout: float) -> bool:
        try:
            code = self.process.wait(timeout=max(0.0, timeout))
        except subprocess.TimeoutExpired:
            return False
        if code != 0:
            log.warning("%s exited with %s while playing %s", self.player, code, self.path.name)
        self._cleanup()
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                log.error("%s (pid %s) did not die after kill", self.player, self.process.pid)
        self._cleanup()

    def _cleanup(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            log.debug("could not remove %s", self.path, exc_info=True)


# Tried in order: PulseAudio/PipeWire first (they mix with other apps), then ALSA, then macOS.
PLAYER_COMMANDS = (["paplay"], ["pw-play"], ["aplay", "-q"], ["afplay"])


def find_player_command() -> list[str] | None:
    for argv in PLAYER_COMMANDS:
        if shutil.which(argv[0]):
            return list(argv)
    return None


class SubprocessPlayer:
    """Plays through a command-line player (paplay, pw-play, aplay, afplay) given a temporary WAV.

    "Started" is when the process is running; sound servers add only a few tens of milliseconds.
    """

    name = "subprocess"

    def __init__(self, command: list[str] | None = None) -> None:
        found = command or find_player_command()
        if not found:
            raise AudioError(
                tr("audio.player_failed", player=self.name, reason="no paplay/pw-play/aplay found"),
                code="player_missing",
            )
        self.command = found

    def start(self, audio: RenderedAnnouncement) -> Playback:
        fd, name = tempfile.mkstemp(prefix="clinic-call-", suffix=".wav")
        path = Path(name)
        with os.fdopen(fd, "wb") as handle:
            handle.write(audio.wav_bytes())
        try:
            process = subprocess.Popen(
                [*self.command, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise AudioError(tr("audio.player_failed", player=self.command[0], reason=str(exc))) from exc
        return _ProcessPlayback(process, path, self.command[0])


class WinsoundPlayer:
    """Windows' built-in winsound, asynchronously from a temporary WAV. Written for Windows; untested here.

    winsound cannot report the end of a sound, so the end is taken as start + duration.
    """

    name = "winsound"

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock

    def start(self, audio: RenderedAnnouncement) -> Playback:
        winsound: Any = importlib.import_module("winsound")  # Windows only

        fd, name = tempfile.mkstemp(prefix="clinic-call-", suffix=".wav")
        with os.fdopen(fd, "wb") as handle:
            handle.write(audio.wav_bytes())
        try:
            winsound.PlaySound(name, winsound.SND_FILENAME | winsound.SND_ASYNC)
        except RuntimeError as exc:
            raise AudioError(tr("audio.player_failed", player=self.name, reason=str(exc))) from exc
        playback = TimedPlayback(audio.duration, self.clock)
        original_stop = playback.stop

        def stop() -> None:
            winsound.PlaySound(None, winsound.SND_PURGE)
            original_stop()

        playback.stop = stop  # type: ignore[method-assign]
        return playback


def default_player() -> Player:
    """The best player this PC has: winsound on Windows, a sound-server command, else silent."""
    if sys.platform == "win32":
        return WinsoundPlayer()
    command = find_player_command()
    if command:
        return SubprocessPlayer(command)
    log.warning("no audio player command found (paplay/aplay); calls will be shown but not heard")
    return NullPlayer()
