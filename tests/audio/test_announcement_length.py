"""How long a call takes with the shipped voice pack and the default settings, measured on real WAV files,
and that the speed comes from a faster voice, not from cut words (every clip is the engine's whole word)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from shared.audio.compose import Announcement, Composer, ComposeSettings
from shared.audio.engines import MIN_SYLLABLE_S, EspeakEngine, syllable_count
from shared.audio.pcm import read_wav, rms, trim
from shared.audio.voicepack import DEFAULT_PACK, MANIFEST, VoicePack, department_clip, standard_clips
from shared.site import VoiceSetting
from tests.audio.conftest import read_wav_samples

# What a waiting room hears most: a letter and three digits to a numbered room, on a display that serves
# one department (the room needs no department) and on one that names the department.
TYPICAL = [
    Announcement("A023", "3诊室"),
    Announcement("B105", "12诊室"),
    Announcement("F012", "2诊室", department="儿科"),
]


def default_composer() -> Composer:
    """The speaker as a site gets it: the shipped pack, the site's default repeat, default gaps."""
    return Composer(VoicePack.default(), ComposeSettings(repeat=VoiceSetting().repeat))


@pytest.mark.parametrize("call", TYPICAL, ids=lambda a: f"{a.number}-{a.department or ''}{a.room}")
def test_a_typical_call_lasts_at_most_six_seconds_with_the_default_repeat(
    call: Announcement, tmp_path: Path
) -> None:
    rendered = default_composer().render(call)
    samples, rate = read_wav_samples(rendered.write_wav(tmp_path / "call.wav"))
    assert VoiceSetting().repeat == 2
    assert len(samples) / rate <= 6.0, rendered.text
    # ... and it still says the number and the room twice, the whole call once
    first = [s.label for s in rendered.segments if s.kind == "speech" and s.repeat == 0]
    again = [s.label for s in rendered.segments if s.kind == "speech" and s.repeat == 1]
    assert first[0] == "请" and first[-1] == "诊室" and (call.department or "诊室") in first
    number = first[1 : first.index("号") + 1]
    room = [w for w in first[first.index("到") + 1 :] if w != call.department]
    assert again == [*number, "到", *room]  # the number and the room, said twice
    assert sum(1 for s in rendered.segments if s.kind == "chime") == 1


def test_the_speech_is_at_a_clear_public_address_pace() -> None:
    """Not a gabble: the first statement is spoken at no more than five syllables a second."""
    for call in TYPICAL:
        rendered = default_composer().render(call)
        words = [s for s in rendered.segments if s.kind == "speech" and s.repeat == 0]
        spoken = sum(syllable_count(s.label) for s in words)
        seconds = (words[-1].end - words[0].start) / rendered.sample_rate
        assert 2.5 <= spoken / seconds <= 5.0, (rendered.text, spoken / seconds)


def test_every_word_is_said_whole_in_every_clip(tmp_path: Path) -> None:
    """Each shipped clip against the same word said now by the engine that built it: only silence was
    trimmed (the lengths agree), no clip ends in the middle of a sound, and no word is clipped to a blip
    (espeak-ng shortens letter names and 二 to 75 ms at a fast rate; those are said more slowly)."""
    manifest = json.loads((DEFAULT_PACK / MANIFEST).read_text(encoding="utf-8"))
    speed = re.search(r"speed=(\d+)", manifest["engine"])
    assert speed is not None and int(speed.group(1)) > 165  # a faster voice than espeak's default
    pack = VoicePack.default()
    clips = [*standard_clips(), *pack.listed_clips()]
    assert department_clip("心血管内科") in clips
    for spec in clips:
        samples = read_wav(DEFAULT_PACK / spec.file, pack.sample_rate)
        frame = pack.sample_rate // 100
        peak = max(rms(samples, i, min(len(samples), i + frame)) for i in range(0, len(samples), frame))
        edge = pack.sample_rate // 200  # 5 ms
        assert rms(samples, len(samples) - edge, len(samples)) < peak / 30, f"{spec.file} ends mid-sound"
        seconds = len(samples) / pack.sample_rate
        assert seconds >= MIN_SYLLABLE_S * syllable_count(spec.text) - 0.01, (spec.file, seconds)
    binary = shutil.which("espeak-ng")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout if binary else ""
    if not binary or manifest["engine"].split(" voice=")[0].replace("espeak-ng ", "") not in version:
        pytest.skip("the espeak-ng that built the shipped pack is not installed here")
    engine = EspeakEngine(speed=int(speed.group(1)))
    for spec in clips:
        shipped = read_wav(DEFAULT_PACK / spec.file, pack.sample_rate)
        with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
            fresh_file = Path(folder) / "fresh.wav"
            engine.synthesize(spec.text, fresh_file)
            raw = read_wav(fresh_file, pack.sample_rate)
        fresh = trim(raw, pack.sample_rate)
        assert len(fresh) < len(raw)  # the engine's output has silence around the word ...
        # ... and the shipped clip is the word without it: the same length within 20 ms
        assert abs(len(shipped) - len(fresh)) <= pack.sample_rate // 50, spec.file
