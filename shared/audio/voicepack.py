"""Voice packs: a folder of WAV clips plus manifest.json that a site can re-record clip by clip.

Layout (paths relative to the pack folder)::

    manifest.json            format, language, sample_rate, number_style, engine, clips {id: {file, text}}
    chime.wav                optional; without it the composer generates a two-tone ding-dong
    digits/0.wav … 9.wav     零 一 二 … 九
    letters/A.wav … Z.wav    letter names
    phrases/qing.wav …       请 号 到 诊室 就诊 请准备 十
    rooms/<room text>.wav    e.g. rooms/内科一诊室.wav (optional; see compose.py for how rooms are said)
    departments/<text>.wav   e.g. departments/儿科.wav (optional)

Ticket numbers are read character by character ("A023" → "A 零 二 三 号"): it is unambiguous in a
noisy waiting room, matches what is printed on the slip and needs only ten digit clips. Room numbers up
to 99 are read as numbers ("12诊室" → "十二 诊室"), longer ones digit by digit, as people say them.

A site replaces any clip by dropping a WAV with the same relative path into the pack folder or into a
separate overrides folder (which wins, so a shipped pack can stay untouched). Clips may have any PCM
rate, width or channel count: they are converted, trimmed and loudness-matched when loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import string
import tempfile
import threading
from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.audio.engines import SpeechEngine
from shared.audio.pcm import AudioError, normalise, read_wav, trim, write_wav
from shared.i18n import register, tr

log = logging.getLogger(__name__)

FORMAT = "clinic-voicepack/1"
MANIFEST = "manifest.json"
DEFAULT_SAMPLE_RATE = 16000
PACKS_DIR = Path(__file__).resolve().parent / "packs"
DEFAULT_PACK = PACKS_DIR / "zh_CN_espeak"

DIGIT_WORDS = "零一二三四五六七八九"
LETTERS = string.ascii_uppercase
# phrase clip id -> text; the ids are file names under phrases/ (ASCII so every tool can show them).
PHRASES: dict[str, str] = {
    "qing": "请",
    "hao": "号",
    "dao": "到",
    "zhenshi": "诊室",
    "jiuzhen": "就诊",
    "qing_zhunbei": "请准备",
    "shi": "十",
}

# The demo hospital's clinical departments (server_stub/seed/demo.py; a test keeps the two in step). The
# default pack ships them as clips, so calls name the department without any speech engine; a site adds
# its own with ``clinic voicepack build --departments …`` (or its own recordings).
DEMO_DEPARTMENTS: tuple[str, ...] = (
    "心血管内科",
    "呼吸内科",
    "消化内科",
    "内分泌科",
    "普通外科",
    "儿科",
    "妇科",
    "耳鼻咽喉科",
    "皮肤科",
    "全科医学科",
    "骨科",
    "眼科",
    "口腔科",
    "中医科",
)

register(
    "audio.pack_missing",
    {
        "zh_CN": "语音包不存在或缺少 manifest.json：{path}",
        "en": "No voice pack (manifest.json) at {path}",
        "zh_TW": "語音包不存在或缺少 manifest.json：{path}",
    },
)
register(
    "audio.pack_bad_manifest",
    {
        "zh_CN": "语音包清单无效：{path}（{reason}）",
        "en": "Invalid voice pack manifest {path} ({reason})",
        "zh_TW": "語音包清單無效：{path}（{reason}）",
    },
)
register(
    "audio.clip_missing",
    {
        "zh_CN": "语音包缺少片段“{text}”（{clip}），也没有可用的语音引擎合成",
        "en": "The voice pack has no clip for “{text}” ({clip}) and no speech engine can say it",
        "zh_TW": "語音包缺少片段「{text}」（{clip}），也沒有可用的語音引擎合成",
    },
)

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def safe_file_name(text: str) -> str:
    """A file name for a room/department text that works on Windows and Linux (readable, not hashed)."""
    name = _UNSAFE.sub("_", text.strip()).strip(". ")
    return name or "_"


@dataclass(frozen=True)
class ClipSpec:
    clip_id: str
    file: str
    text: str


def standard_clips() -> list[ClipSpec]:
    """The clips every pack must have: digits, letters and the fixed phrases."""
    clips = [ClipSpec(f"digit_{d}", f"digits/{d}.wav", DIGIT_WORDS[d]) for d in range(10)]
    clips += [ClipSpec(f"letter_{c}", f"letters/{c}.wav", c) for c in LETTERS]
    clips += [ClipSpec(key, f"phrases/{key}.wav", text) for key, text in PHRASES.items()]
    return clips


def standard_clip(clip_id: str) -> ClipSpec:
    """``digit_3``, ``letter_A`` or a phrase id (``qing``, ``hao``, …) as a ClipSpec."""
    if clip_id.startswith("digit_"):
        digit = int(clip_id[6:])
        return ClipSpec(clip_id, f"digits/{digit}.wav", DIGIT_WORDS[digit])
    if clip_id.startswith("letter_"):
        letter = clip_id[7:]
        return ClipSpec(clip_id, f"letters/{letter}.wav", letter)
    return ClipSpec(clip_id, f"phrases/{clip_id}.wav", PHRASES[clip_id])


def room_clip(text: str) -> ClipSpec:
    return ClipSpec(f"room:{text}", f"rooms/{safe_file_name(text)}.wav", text)


def department_clip(text: str) -> ClipSpec:
    return ClipSpec(f"department:{text}", f"departments/{safe_file_name(text)}.wav", text)


CHIME = ClipSpec("chime", "chime.wav", "")


class VoicePack:
    """A loaded pack. Thread-safe: clips are read once, converted to the pack's rate and cached."""

    def __init__(self, root: Path, manifest: dict[str, Any], overrides: Path | None = None) -> None:
        self.root = root
        self.manifest = manifest
        self.overrides = overrides
        self.sample_rate = int(manifest.get("sample_rate", DEFAULT_SAMPLE_RATE))
        self.language = str(manifest.get("language", "zh_CN"))
        self.number_style = str(manifest.get("number_style", "digits"))
        self._cache: dict[str, array] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, root: Path | str, overrides: Path | str | None = None) -> VoicePack:
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise AudioError(tr("audio.pack_missing", path=str(root)), code="not_found")
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AudioError(tr("audio.pack_bad_manifest", path=str(path), reason=str(exc))) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            reason = f"format must be {FORMAT}"
            raise AudioError(tr("audio.pack_bad_manifest", path=str(path), reason=reason))
        return cls(root, manifest, Path(overrides) if overrides else None)

    @classmethod
    def default(cls, overrides: Path | str | None = None) -> VoicePack:
        """The pack shipped with the suite (built with espeak-ng, Mandarin)."""
        return cls.load(DEFAULT_PACK, overrides)

    def path_of(self, spec: ClipSpec) -> Path | None:
        """Where the clip's WAV is: the overrides folder first, then the pack; None when neither has it."""
        for folder in (self.overrides, self.root):
            if folder is not None:
                candidate = folder / spec.file
                if candidate.is_file():
                    return candidate
        return None

    def has(self, spec: ClipSpec) -> bool:
        return self.path_of(spec) is not None

    def samples(self, spec: ClipSpec, *, process: bool = True) -> array:
        """The clip as 16-bit mono at the pack's rate, trimmed and loudness-matched (``process``)."""
        key = f"{spec.file}|{process}"
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        path = self.path_of(spec)
        if path is None:
            raise AudioError(tr("audio.clip_missing", text=spec.text, clip=spec.file), code="not_found")
        data = read_wav(path, self.sample_rate)
        if process:
            data = normalise(trim(data, self.sample_rate))
        with self._lock:
            self._cache[key] = data
        return data

    def listed_clips(self) -> list[ClipSpec]:
        """The room and department clips the manifest lists (beyond the standard ones)."""
        clips = self.manifest.get("clips")
        out = []
        for clip_id, entry in (clips if isinstance(clips, dict) else {}).items():
            if str(clip_id).startswith(("room:", "department:")) and isinstance(entry, dict):
                out.append(ClipSpec(str(clip_id), str(entry.get("file", "")), str(entry.get("text", ""))))
        return out

    def check(self) -> list[str]:
        """Problems a support person should fix: missing or unreadable standard clips, and room or
        department clips the manifest lists but the folder lacks."""
        problems: list[str] = []
        for spec in standard_clips() + self.listed_clips():
            if not self.has(spec):
                problems.append(f"missing {spec.file} ({spec.text})")
                continue
            try:
                if not self.samples(spec):
                    problems.append(f"silent {spec.file} ({spec.text})")
            except AudioError as exc:
                problems.append(exc.message)
        return problems


def synthesize_clip(engine: SpeechEngine, text: str, sample_rate: int) -> array:
    """Say ``text`` with ``engine`` and return it trimmed and loudness-matched at ``sample_rate``."""
    with tempfile.TemporaryDirectory(prefix="clinic-tts-") as tmp:
        out = Path(tmp) / "clip.wav"
        engine.synthesize(text, out)
        return normalise(trim(read_wav(out, sample_rate), sample_rate))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_pack(
    out: Path | str,
    engine: SpeechEngine,
    *,
    rooms: list[str] | tuple[str, ...] = (),
    departments: list[str] | tuple[str, ...] = (),
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    language: str = "zh_CN",
) -> VoicePack:
    """Write a complete pack with ``engine``: standard clips plus the given room and department names.

    Existing site recordings in ``out`` are kept (a WAV whose digest differs from the one this builder
    wrote is the site's and is never overwritten), so re-building after adding a room is safe.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    old_clips: dict[str, dict[str, str]] = {}
    if (root / MANIFEST).is_file():
        try:
            old_clips = json.loads((root / MANIFEST).read_text(encoding="utf-8")).get("clips", {})
        except ValueError:
            old_clips = {}
    specs = standard_clips() + [room_clip(r) for r in rooms] + [department_clip(d) for d in departments]
    clips: dict[str, dict[str, str]] = {}
    todo: list[ClipSpec] = []
    for spec in specs:
        target = root / spec.file
        previous = old_clips.get(spec.clip_id) or {}
        if target.exists() and _digest(target) != previous.get("sha256"):
            # Not the file this builder wrote last time: a site recording; never overwrite it.
            log.info("keeping the site's recording %s", spec.file)
            clips[spec.clip_id] = {"file": spec.file, "text": spec.text, "source": "recorded"}
        else:
            todo.append(spec)

    def make(spec: ClipSpec) -> None:
        target = root / spec.file
        write_wav(target, synthesize_clip(engine, spec.text, sample_rate), sample_rate)
        clips[spec.clip_id] = {
            "file": spec.file,
            "text": spec.text,
            "source": engine.name,
            "sha256": _digest(target),
        }

    # Engines are separate processes, so a few clips are synthesised at once.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        list(pool.map(make, todo))
    clips = {spec.clip_id: clips[spec.clip_id] for spec in specs}
    manifest = {
        "format": FORMAT,
        "language": language,
        "sample_rate": sample_rate,
        "sample_width": 2,
        "channels": 1,
        "number_style": "digits",
        "engine": engine.describe(),
        "built_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "clips": clips,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    log.info("voice pack with %d clips written to %s", len(clips), root)
    return VoicePack.load(root)
