"""Announcements rendered to real WAV files with an espeak-ng pack: order, lengths, loudness, repeats."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.audio.compose import Announcement, Composer, ComposeSettings, natural_number_tokens
from shared.audio.pcm import AudioError, rms, tone, write_wav
from shared.audio.voicepack import VoicePack
from tests.audio.conftest import read_wav_samples

CALL_WORDS = ["请", "A", "零", "二", "三", "号", "到", "三", "诊室"]
FULL = ComposeSettings(repeat_words="full", visit_word=True)  # the long call, said in full each time


def speech_labels(rendered, repeat: int | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        s.label for s in rendered.segments if s.kind == "speech" and (repeat is None or s.repeat == repeat)
    ]


class RecordingEngine:
    """A speech engine that says everything as a short tone and remembers what it was asked."""

    name = "fake"

    def __init__(self) -> None:
        self.said: list[str] = []

    def available(self) -> bool:
        return True

    def describe(self) -> str:
        return "fake"

    def synthesize(self, text: str, out: Path) -> None:
        self.said.append(text)
        write_wav(out, tone(300, 0.1 * len(text), 22050, decay=0.5), 22050)


def test_a_call_is_a_chime_then_please_number_to_room_in_that_order(espeak_pack: VoicePack) -> None:
    rendered = Composer(espeak_pack, ComposeSettings(repeat=1)).render(Announcement("A023", "3诊室"))

    sounding = [s for s in rendered.segments if s.kind != "silence"]
    assert sounding[0].kind == "chime"
    assert speech_labels(rendered) == CALL_WORDS
    assert rendered.text == "请 A 零 二 三 号 到 三 诊室"
    with_visit = Composer(espeak_pack, ComposeSettings(repeat=1, visit_word=True))
    assert speech_labels(with_visit.render(Announcement("A023", "3诊室"))) == [*CALL_WORDS, "就诊"]


def test_the_repeat_says_only_the_number_and_the_room_by_default(espeak_pack: VoicePack) -> None:
    call = Announcement("A023", "3诊室", department="儿科")
    short = Composer(espeak_pack).render(call)
    full = Composer(espeak_pack, FULL).render(call)

    assert speech_labels(short, 0) == ["请", "A", "零", "二", "三", "号", "到", "儿科", "三", "诊室"]
    assert speech_labels(short, 1) == ["A", "零", "二", "三", "号", "到", "三", "诊室"]
    assert speech_labels(full, 1) == speech_labels(full, 0) == [*speech_labels(short, 0), "就诊"]
    assert short.duration < full.duration - 1.0


def test_the_segments_tile_the_wav_file_exactly(espeak_pack: VoicePack, tmp_path: Path) -> None:
    rendered = Composer(espeak_pack).render(Announcement("A023", "3诊室"))
    path = rendered.write_wav(tmp_path / "call.wav")

    samples, rate = read_wav_samples(path)
    assert rate == espeak_pack.sample_rate == 16000
    assert len(samples) == rendered.samples == sum(s.length for s in rendered.segments)
    assert rendered.segments[0].start == 0 and rendered.segments[-1].end == len(samples)
    for before, after in zip(rendered.segments, rendered.segments[1:], strict=False):
        assert before.end == after.start
    assert rendered.duration == pytest.approx(len(samples) / rate)
    if shutil.which("soxi"):  # an outside opinion on the file's length
        seconds = float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True).stdout)
        assert seconds == pytest.approx(rendered.duration, abs=0.001)


def test_speech_is_far_louder_than_the_gaps_between_words(espeak_pack: VoicePack, tmp_path: Path) -> None:
    rendered = Composer(espeak_pack).render(Announcement("B105", "12诊室"))
    samples, _rate = read_wav_samples(rendered.write_wav(tmp_path / "call.wav"))

    speech = [rms(samples, s.start, s.end) for s in rendered.segments if s.kind == "speech"]
    gaps = [rms(samples, s.start, s.end) for s in rendered.segments if s.kind == "silence"]
    chime = [rms(samples, s.start, s.end) for s in rendered.segments if s.kind == "chime"]
    assert min(speech) > 1000, "every word is clearly audible"
    assert max(gaps) < 10, "gaps are silent"
    assert 20 * math.log10(min(speech) / max(max(gaps), 1.0)) > 40
    # Loudness-matched clips: no word is more than 12 dB quieter or louder than the average word.
    mean = sum(speech) / len(speech)
    assert all(abs(20 * math.log10(level / mean)) < 12 for level in speech)
    assert chime and chime[0] > 1000


def test_the_sentence_is_repeated_the_configured_number_of_times(espeak_pack: VoicePack) -> None:
    once = Composer(espeak_pack, ComposeSettings(repeat=1, repeat_words="full")).render(
        Announcement("A023", "3诊室")
    )
    thrice = Composer(espeak_pack, ComposeSettings(repeat=3, repeat_words="full")).render(
        Announcement("A023", "3诊室")
    )

    assert speech_labels(thrice) == CALL_WORDS * 3
    assert [speech_labels(thrice, r) for r in range(3)] == [CALL_WORDS] * 3
    assert sum(1 for s in thrice.segments if s.kind == "chime") == 1
    sentence = sum(s.length for s in once.segments if s.kind == "speech")
    assert sum(s.length for s in thrice.segments if s.kind == "speech") == 3 * sentence
    words = [s for s in once.segments if s.kind == "speech"]
    span = words[-1].end - words[0].start
    gap = ComposeSettings().repeat_gap_ms * once.sample_rate // 1000
    assert thrice.samples == once.samples + 2 * (gap + span)


def test_a_chime_before_each_repeat_when_configured(espeak_pack: VoicePack) -> None:
    rendered = Composer(espeak_pack, ComposeSettings(repeat=2, chime="each")).render(Announcement("A1", "1"))
    kinds = [s.kind for s in rendered.segments if s.kind != "silence"]
    assert kinds.count("chime") == 2
    assert kinds[0] == "chime" and kinds[kinds.index("chime", 1) - 1] == "speech"


@pytest.mark.parametrize(
    ("room", "words"),
    [
        ("3诊室", ["三", "诊室"]),
        ("12诊室", ["十", "二", "诊室"]),
        ("20", ["二", "十", "诊室"]),
        ("B301室", ["B", "三", "零", "一", "诊室"]),
        ("内科一诊室", ["内科一诊室"]),  # a clip built for this room
    ],
)
def test_rooms_are_said_as_people_say_them(espeak_pack: VoicePack, room: str, words: list[str]) -> None:
    rendered = Composer(espeak_pack, ComposeSettings(repeat=1)).render(Announcement("A1", room))
    labels = speech_labels(rendered)
    assert labels[labels.index("到") + 1 :] == words


def test_numbers_up_to_ninety_nine_are_read_as_numbers() -> None:
    assert natural_number_tokens(7) == ["7"]
    assert natural_number_tokens(10) == ["shi"]
    assert natural_number_tokens(15) == ["shi", "5"]
    assert natural_number_tokens(40) == ["4", "shi"]
    assert natural_number_tokens(305) == ["3", "0", "5"]


def test_a_prepare_call_asks_the_next_patient_to_get_ready(espeak_pack: VoicePack) -> None:
    rendered = Composer(espeak_pack, ComposeSettings(repeat=1)).render(
        Announcement("A024", "3", kind="prepare")
    )
    assert speech_labels(rendered) == ["A", "零", "二", "四", "号", "请准备"]


def test_a_department_clip_is_said_before_the_room(espeak_pack: VoicePack) -> None:
    rendered = Composer(espeak_pack, ComposeSettings(repeat=1)).render(
        Announcement("A1", "2诊室", department="儿科")
    )
    assert speech_labels(rendered)[-4:] == ["到", "儿科", "二", "诊室"]


def test_names_are_silent_by_default_and_masked_when_switched_on(espeak_pack: VoicePack) -> None:
    engine = RecordingEngine()
    call = Announcement("A023", "3诊室", name="张小三")

    default = Composer(espeak_pack, ComposeSettings(repeat=1), engine=engine).render(call)
    masked = Composer(espeak_pack, ComposeSettings(repeat=1, name_mode="masked"), engine=engine).render(call)
    full = Composer(espeak_pack, ComposeSettings(repeat=1, name_mode="full"), name_engine=engine).render(call)

    assert "张*三" not in speech_labels(default)
    assert speech_labels(masked)[6] == "张*三"  # right after 号; labels (and logs) never hold the full name
    assert speech_labels(full)[6] == "张*三"
    assert engine.said == ["张某三", "张小三"]


def test_an_unknown_room_without_an_engine_fails_with_a_clear_error(espeak_pack: VoicePack) -> None:
    with pytest.raises(AudioError) as caught:
        Composer(espeak_pack).render(Announcement("A1", "康复理疗室"))
    assert "康复理疗室" in caught.value.message
    assert caught.value.code == "not_found"


def test_an_unknown_room_is_synthesised_once_and_cached_on_disk(
    espeak_pack: VoicePack, tmp_path: Path
) -> None:
    engine = RecordingEngine()
    first = Composer(espeak_pack, engine=engine, cache_dir=tmp_path).render(Announcement("A1", "康复理疗室"))
    Composer(espeak_pack, engine=engine, cache_dir=tmp_path).render(Announcement("A2", "康复理疗室"))

    assert engine.said == ["康复理疗室"]
    assert "康复理疗室" in speech_labels(first)
    assert list(tmp_path.glob("*.wav"))


def test_names_are_never_written_to_the_cache_folder(espeak_pack: VoicePack, tmp_path: Path) -> None:
    engine = RecordingEngine()
    settings = ComposeSettings(name_mode="full")
    Composer(espeak_pack, settings, engine=engine, cache_dir=tmp_path).render(
        Announcement("A1", "1", name="李四")
    )
    assert engine.said == ["李四"]
    assert not list(tmp_path.iterdir())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(AudioError):
        ComposeSettings(repeat=0)
    with pytest.raises(AudioError):
        ComposeSettings(name_mode="loud")  # type: ignore[arg-type]
    with pytest.raises(AudioError):
        ComposeSettings(volume=1.5)
    with pytest.raises(AudioError):
        ComposeSettings(repeat_words="twice")  # type: ignore[arg-type]


def test_the_default_pack_names_the_demo_departments_without_a_speech_engine(tmp_path: Path) -> None:
    composer = Composer(VoicePack.default(), ComposeSettings(repeat=1))  # no engine at all
    rendered = composer.render(Announcement("A023", "1诊室", department="心血管内科"))
    assert speech_labels(rendered) == [
        "请",
        "A",
        "零",
        "二",
        "三",
        "号",
        "到",
        "心血管内科",
        "一",
        "诊室",
    ]

    samples, rate = read_wav_samples(rendered.write_wav(tmp_path / "call.wav"))
    (department,) = [s for s in rendered.segments if s.label == "心血管内科"]
    assert department.length / rate > 0.5  # five syllables, not a click
    assert rms(samples, department.start, department.end) > 1000
    digit = next(s for s in rendered.segments if s.label == "零")
    level = rms(samples, digit.start, digit.end)
    assert abs(20 * math.log10(rms(samples, department.start, department.end) / level)) < 12


def test_the_volume_setting_scales_the_whole_announcement(espeak_pack: VoicePack, tmp_path: Path) -> None:
    call = Announcement("A023", "3诊室", department="儿科")
    levels = {}
    renders = {}
    for volume in (1.0, 0.5, 0.25, 0.0):
        rendered = Composer(espeak_pack, ComposeSettings(repeat=1, volume=volume)).render(call)
        samples, _rate = read_wav_samples(rendered.write_wav(tmp_path / f"call-{volume}.wav"))
        levels[volume] = rms(samples, 0, len(samples))
        renders[volume] = rendered
    assert levels[1.0] > 1000 and levels[0.0] == 0
    assert levels[0.5] / levels[1.0] == pytest.approx(0.5, rel=0.01)
    assert levels[0.25] / levels[1.0] == pytest.approx(0.25, rel=0.02)
    # the same length and segments: only the level changes, so the highlight timing does not
    assert {r.segments for r in renders.values()} == {renders[1.0].segments}
