"""Announcement composition: chime + phrase + number + room (+ name), repeated, rendered to one PCM buffer.

The result carries a segment list (sample offsets and labels of every clip and gap), so the length is
known before playing and tests can check order, lengths and loudness of the parts.

Sentences (Mandarin)::

    call     请 | A 零 二 三 号 | [张某三] | 到 [内科] 三 诊室 | [就诊]
    repeat   A 零 二 三 号 | 到 三 诊室                  (``repeat_words = "short"``; "full" says it all again)
    prepare  A 零 二 四 号 | [张某三] | 请准备

Length: a waiting room with several doctors calling needs each call short, or the speaker's FIFO falls
behind. The defaults say the whole call once and then only what the patient must catch (number and
room), leave out the closing 就诊 (``visit_word``) and keep the chime and the pauses short: a call to
"A023 → 3诊室" with the shipped pack lasts about 5 s (``benchmarks/announcement_length.py``). Words are
never cut: clips are only trimmed of silence.

How a room is said, first that applies: a clip ``rooms/<room text>.wav``; a room label that is a number
with an optional letter and suffix ("3", "12诊室", "B301室") is said from clips ("十二 诊室",
"B 三 零 一 诊室"); otherwise the speech engine says the text (cached on disk when a cache folder is
set). Department names likewise (a clip, else the engine, else left out). Names are never spoken unless
the settings ask: ``masked`` says 张*三 as "张某三", ``full`` says the name; name audio is never cached
on disk.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.audio.engines import SpeechEngine
from shared.audio.pcm import AudioError, ding_dong, scaled, silence, wav_bytes, write_wav
from shared.audio.voicepack import (
    CHIME,
    DIGIT_WORDS,
    ClipSpec,
    VoicePack,
    department_clip,
    room_clip,
    safe_file_name,
    standard_clip,
    synthesize_clip,
)
from shared.domain.masking import mask_name
from shared.i18n import register, tr

log = logging.getLogger(__name__)

register(
    "audio.room_unspeakable",
    {
        "zh_CN": "无法播报诊室“{room}”：语音包中没有该诊室的录音，也没有可用的语音引擎",
        "en": "Cannot announce room “{room}”: no recording in the voice pack and no speech engine",
        "zh_TW": "無法播報診室「{room}」：語音包中沒有該診室的錄音，也沒有可用的語音引擎",
    },
)
register(
    "audio.bad_settings",
    {
        "zh_CN": "播报设置无效：{detail}",
        "en": "Invalid announcement settings: {detail}",
        "zh_TW": "播報設置無效：{detail}",
    },
)

NameMode = Literal["off", "masked", "full"]
ChimeMode = Literal["once", "each", "off"]
RepeatWords = Literal["full", "short"]
Kind = Literal["call", "prepare"]

_ROOM_NUMBER = re.compile(r"([A-Z]?)(\d{1,4})(号诊室|诊室|号|室)?")


@dataclass(frozen=True)
class Announcement:
    """What to say. ``name`` is the full name; whether and how it is spoken is a setting."""

    number: str
    room: str
    kind: Kind = "call"
    department: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class ComposeSettings:
    """Per-speaker announcement settings (all gaps in milliseconds; ``volume`` 0.0-1.0 is a gain on the
    whole announcement, the site's ``voice.volume``)."""

    repeat: int = 2
    name_mode: NameMode = "off"
    chime: ChimeMode = "once"
    # the repeats say the whole call again ("full") or only the number and the room ("short")
    repeat_words: RepeatWords = "short"
    visit_word: bool = False  # end the call with 就诊 ("请 A023 号 到 3 诊室 就诊")
    lead_in_ms: int = 30
    chime_gap_ms: int = 80
    word_gap_ms: int = 0  # clips keep 15 ms of their own silence at each end
    phrase_gap_ms: int = 60
    repeat_gap_ms: int = 300
    tail_ms: int = 50
    volume: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.repeat <= 5:
            raise AudioError(tr("audio.bad_settings", detail="repeat 1–5"), code="invalid_input")
        if self.name_mode not in ("off", "masked", "full"):
            raise AudioError(
                tr("audio.bad_settings", detail=f"name_mode {self.name_mode}"), code="invalid_input"
            )
        if self.chime not in ("once", "each", "off"):
            raise AudioError(tr("audio.bad_settings", detail=f"chime {self.chime}"), code="invalid_input")
        if self.repeat_words not in ("full", "short"):
            detail = f"repeat_words {self.repeat_words}"
            raise AudioError(tr("audio.bad_settings", detail=detail), code="invalid_input")
        if not 0.0 <= self.volume <= 1.0:
            raise AudioError(tr("audio.bad_settings", detail="volume 0.0–1.0"), code="invalid_input")


@dataclass(frozen=True)
class Segment:
    """One part of the rendered audio: ``kind`` is chime, speech or silence; offsets in samples."""

    kind: Literal["chime", "speech", "silence"]
    label: str
    start: int
    end: int
    repeat: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RenderedAnnouncement:
    """16-bit mono PCM at ``sample_rate`` plus the segments that tile it exactly, in order."""

    pcm: array
    sample_rate: int
    segments: tuple[Segment, ...]
    text: str

    @property
    def samples(self) -> int:
        return len(self.pcm)

    @property
    def duration(self) -> float:
        """Length in seconds, known before playback starts."""
        return len(self.pcm) / self.sample_rate

    def wav_bytes(self) -> bytes:
        return wav_bytes(self.pcm, self.sample_rate)

    def write_wav(self, path: Path | str) -> Path:
        return write_wav(path, self.pcm, self.sample_rate)


@dataclass
class _Token:
    label: str
    clip: ClipSpec | None = None
    synth: str | None = None
    private: bool = False


@dataclass
class _Builder:
    sample_rate: int
    pcm: array = field(default_factory=lambda: array("h"))
    segments: list[Segment] = field(default_factory=list)

    def add(self, kind: Literal["chime", "speech", "silence"], label: str, data: array, repeat: int) -> None:
        if not data:
            return
        start = len(self.pcm)
        self.pcm.extend(data)
        self.segments.append(Segment(kind, label, start, len(self.pcm), repeat))

    def gap(self, ms: int, repeat: int) -> None:
        self.add("silence", "gap", silence(self.sample_rate * ms // 1000), repeat)


def _normalise_number(number: str) -> str:
    return unicodedata.normalize("NFKC", number).strip().upper()


def natural_number_tokens(value: int) -> list[str]:
    """Digits of 1–99 as said aloud (12 → 十 二, 20 → 二 十); other values digit by digit."""
    if 10 <= value <= 99:
        tens, ones = divmod(value, 10)
        words = ([] if tens == 1 else [str(tens)]) + ["shi"]
        return words + ([str(ones)] if ones else [])
    return list(str(value))


class Composer:
    """Renders announcements from a voice pack. Thread-safe; one per speaker (or shared)."""

    def __init__(
        self,
        pack: VoicePack,
        settings: ComposeSettings | None = None,
        *,
        engine: SpeechEngine | None = None,
        name_engine: SpeechEngine | None = None,
        cache_dir: Path | str | None = None,
    ) -> None:
        self.pack = pack
        self.settings = settings or ComposeSettings()
        self.engine = engine
        self.name_engine = name_engine or engine
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.sample_rate = pack.sample_rate
        self._names: OrderedDict[str, array] = OrderedDict()
        self._synth: dict[str, array] = {}
        self._lock = threading.Lock()
        self._chime: array | None = None

    # --- what to say -------------------------------------------------------------------------

    def _number_tokens(self, number: str) -> list[_Token]:
        tokens = []
        for ch in _normalise_number(number):
            if ch.isdigit():
                tokens.append(_Token(DIGIT_WORDS[int(ch)], self._std(f"digit_{ch}")))
            elif "A" <= ch <= "Z":
                tokens.append(_Token(ch, self._std(f"letter_{ch}")))
        tokens.append(_Token("号", self._std("hao")))
        return tokens

    def _std(self, clip_id: str) -> ClipSpec:
        return standard_clip(clip_id)

    def _room_tokens(self, room: str) -> list[_Token]:
        spec = room_clip(room)
        if self.pack.has(spec):
            return [_Token(room, spec)]
        match = _ROOM_NUMBER.fullmatch(_normalise_number(room))
        if match:
            letter, digits, _suffix = match.groups()
            tokens = [_Token(letter, self._std(f"letter_{letter}"))] if letter else []
            for word in natural_number_tokens(int(digits)) if len(digits) <= 2 else list(digits):
                if word == "shi":
                    tokens.append(_Token("十", self._std("shi")))
                else:
                    tokens.append(_Token(DIGIT_WORDS[int(word)], self._std(f"digit_{word}")))
            return [*tokens, _Token("诊室", self._std("zhenshi"))]
        if self.engine is not None:
            return [_Token(room, synth=room)]
        raise AudioError(tr("audio.room_unspeakable", room=room), code="not_found")

    def _department_tokens(self, department: str | None) -> list[_Token]:
        if not department:
            return []
        spec = department_clip(department)
        if self.pack.has(spec):
            return [_Token(department, spec)]
        if self.engine is not None:
            return [_Token(department, synth=department)]
        log.warning("department %r has no clip and no engine; announcing without it", department)
        return []

    def _name_tokens(self, name: str | None) -> list[_Token]:
        mode = self.settings.name_mode
        if mode == "off" or not name:
            return []
        if self.name_engine is None:
            log.warning("names are to be spoken but no speech engine is set; announcing without the name")
            return []
        said = mask_name(name).replace("*", "某") if mode == "masked" else name
        return [_Token(mask_name(name), synth=said, private=True)]

    def phrases(self, announcement: Announcement, *, repeat: bool = False) -> list[list[_Token]]:
        """The sentence as phrases of tokens (word gaps inside a phrase, phrase gaps between).

        ``repeat``: the sentence said after the first one, the number and the room only when the
        settings' ``repeat_words`` is "short".
        """
        number = self._number_tokens(announcement.number)
        name = self._name_tokens(announcement.name)
        if announcement.kind == "prepare":
            parts = [number, name, [_Token("请准备", self._std("qing_zhunbei"))]]
        else:
            room = [_Token("到", self._std("dao")), *self._room_tokens(announcement.room)]
            if repeat and self.settings.repeat_words == "short":
                return [number, room]  # the department was said once (and is on the screen)
            where = [room[0], *self._department_tokens(announcement.department), *room[1:]]
            ending = [_Token("就诊", self._std("jiuzhen"))] if self.settings.visit_word else []
            parts = [[_Token("请", self._std("qing"))], number, name, where, ending]
        return [p for p in parts if p]

    # --- audio ---------------------------------------------------------------------------------

    def chime(self) -> array:
        if self._chime is None:
            self._chime = (
                self.pack.samples(CHIME, process=False)
                if self.pack.has(CHIME)
                else ding_dong(self.sample_rate)
            )
        return self._chime

    def _synthesize(self, token: _Token) -> array:
        text = token.synth or ""
        engine = self.name_engine if token.private else self.engine
        assert engine is not None
        with self._lock:
            cached = (self._names if token.private else self._synth).get(text)
        if cached is not None:
            return cached
        disk: Path | None = None
        if not token.private and self.cache_dir is not None:
            disk = self.cache_dir / f"{engine.name}-{safe_file_name(text)}.wav"
            if disk.is_file():
                data = VoicePack(disk.parent, {"sample_rate": self.sample_rate}).samples(
                    ClipSpec(text, disk.name, text), process=False
                )
                with self._lock:
                    self._synth[text] = data
                return data
        data = synthesize_clip(engine, text, self.sample_rate)
        if disk is not None:
            write_wav(disk, data, self.sample_rate)
        with self._lock:
            if token.private:
                # A small in-memory cache for recalls; name audio never touches the disk.
                self._names[text] = data
                while len(self._names) > 32:
                    self._names.popitem(last=False)
            else:
                self._synth[text] = data
        return data

    def _token_audio(self, token: _Token) -> array:
        if token.clip is not None:
            return self.pack.samples(token.clip)
        return self._synthesize(token)

    def render(self, announcement: Announcement) -> RenderedAnnouncement:
        """Compose and render; raises AudioError when a needed clip is missing and cannot be synthesised."""
        s = self.settings
        phrases = self.phrases(announcement)
        audio = [[(token, self._token_audio(token)) for token in phrase] for phrase in phrases]
        again = [
            [(token, self._token_audio(token)) for token in phrase]
            for phrase in self.phrases(announcement, repeat=True)
        ]
        out = _Builder(self.sample_rate)
        out.gap(s.lead_in_ms, -1)
        for rep in range(s.repeat):
            if rep:
                out.gap(s.repeat_gap_ms, rep)
            if s.chime == "each" or (s.chime == "once" and rep == 0):
                out.add("chime", "chime", self.chime(), rep - 1 if s.chime == "once" else rep)
                out.gap(s.chime_gap_ms, rep)
            for p, phrase in enumerate(again if rep else audio):
                if p:
                    out.gap(s.phrase_gap_ms, rep)
                for w, (token, data) in enumerate(phrase):
                    if w:
                        out.gap(s.word_gap_ms, rep)
                    out.add("speech", token.label, data, rep)
        out.gap(s.tail_ms, s.repeat - 1)
        text = " ".join(" ".join(t.label for t in phrase) for phrase in phrases)
        pcm = scaled(out.pcm, s.volume)  # the same length: the segments still tile it
        return RenderedAnnouncement(pcm, self.sample_rate, tuple(out.segments), text)


def render_to_wav(
    pack: VoicePack, announcement: Announcement, out: Path | str, settings: ComposeSettings | None = None
) -> RenderedAnnouncement:
    """Convenience for support and tests: render one announcement into a WAV file."""
    rendered = Composer(pack, settings).render(announcement)
    rendered.write_wav(out)
    return rendered


__all__ = [
    "Announcement",
    "ComposeSettings",
    "Composer",
    "RenderedAnnouncement",
    "Segment",
    "natural_number_tokens",
    "render_to_wav",
]
