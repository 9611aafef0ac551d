"""Voice packs: the shipped pack is complete, sites replace clips by dropping WAVs, rebuilds keep recordings."""

from __future__ import annotations

import json
import shutil
import wave
from array import array
from pathlib import Path

import pytest

from shared.audio.compose import Announcement, Composer, ComposeSettings
from shared.audio.engines import CommandEngine, EspeakEngine, engine_from_config
from shared.audio.pcm import AudioError, read_wav, tone, write_wav
from shared.audio.voicepack import (
    DEFAULT_PACK,
    DEMO_DEPARTMENTS,
    MANIFEST,
    VoicePack,
    build_pack,
    department_clip,
    standard_clips,
)
from tests.audio.conftest import needs_espeak, run_clinic


def write_stereo_44k_tone(path: Path, seconds: float) -> None:
    """A site recording in a different format than the pack: 44.1 kHz stereo."""
    mono = tone(440, seconds, 44100, decay=0.0)
    stereo = array("h")
    for value in mono:
        stereo.extend((value, value))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(stereo.tobytes())


def test_the_shipped_pack_is_complete_small_and_16k_mono() -> None:
    pack = VoicePack.default()
    assert pack.check() == []
    assert pack.sample_rate == 16000 and pack.language == "zh_CN"
    files = [p for p in DEFAULT_PACK.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 3 * 1024 * 1024
    for spec in standard_clips():
        with wave.open(str(DEFAULT_PACK / spec.file), "rb") as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2), spec.file


def test_a_site_recording_in_the_overrides_folder_replaces_the_clip(tmp_path: Path) -> None:
    overrides = tmp_path / "site"
    write_stereo_44k_tone(overrides / "digits" / "3.wav", 0.4)
    pack = VoicePack.default(overrides=overrides)

    rendered = Composer(pack, ComposeSettings(repeat=1)).render(Announcement("A3", "1"))
    three = next(s for s in rendered.segments if s.label == "三")
    assert three.length == pytest.approx(0.4 * 16000, abs=16000 * 0.02)  # converted to 16 kHz mono
    assert pack.path_of(standard_clips()[3]) == overrides / "digits" / "3.wav"


def test_a_room_recording_dropped_into_the_pack_is_used_without_a_manifest_entry(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, folder)
    write_stereo_44k_tone(folder / "rooms" / "康复理疗室.wav", 0.7)

    rendered = Composer(VoicePack.load(folder), ComposeSettings(repeat=1)).render(
        Announcement("A1", "康复理疗室")
    )
    room = next(s for s in rendered.segments if s.label == "康复理疗室")
    assert room.length == pytest.approx(0.7 * 16000, abs=16000 * 0.02)


class ToneEngine:
    """A fast, deterministic stand-in engine: every text becomes a short tone."""

    name = "tone"

    def available(self) -> bool:
        return True

    def describe(self) -> str:
        return "tone"

    def synthesize(self, text: str, out: Path) -> None:
        write_wav(out, tone(200 + 10 * (ord(text[0]) % 50), 0.15, 16000, decay=0.0), 16000)


def test_rebuilding_a_pack_keeps_the_sites_recordings(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    engine = ToneEngine()
    build_pack(folder, engine)
    write_stereo_44k_tone(folder / "phrases" / "jiuzhen.wav", 0.5)
    recorded = (folder / "phrases" / "jiuzhen.wav").read_bytes()
    generated = (folder / "digits" / "1.wav").read_bytes()

    build_pack(folder, engine, rooms=["内科二诊室"])

    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert (folder / "phrases" / "jiuzhen.wav").read_bytes() == recorded
    assert manifest["clips"]["jiuzhen"]["source"] == "recorded"
    assert manifest["clips"]["digit_1"]["source"] == "tone"
    assert (folder / "digits" / "1.wav").read_bytes() == generated
    assert (folder / "rooms" / "内科二诊室.wav").is_file()


def test_a_folder_without_a_manifest_is_not_a_pack(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as caught:
        VoicePack.load(tmp_path)
    assert caught.value.code == "not_found"
    (tmp_path / MANIFEST).write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(AudioError):
        VoicePack.load(tmp_path)


def test_check_lists_missing_clips(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, folder)
    (folder / "letters" / "Q.wav").unlink()
    assert VoicePack.load(folder).check() == ["missing letters/Q.wav (Q)"]
    assert run_clinic(["voicepack", "check", str(folder)]) == 1
    assert run_clinic(["voicepack", "check"]) == 0


def test_clinic_voicepack_say_renders_a_wav(tmp_path: Path) -> None:
    out = tmp_path / "call.wav"
    assert run_clinic(["voicepack", "say", "A023", "3诊室", "--repeat", "1", "--out", str(out)]) == 0
    assert len(read_wav(out, 16000)) > 16000


def test_the_espeak_engine_writes_mandarin_speech(tmp_path: Path) -> None:
    needs_espeak()
    engine = engine_from_config("espeak")
    engine.synthesize("请到诊室", tmp_path / "x.wav")
    assert len(read_wav(tmp_path / "x.wav", 16000)) > 8000
    assert "espeak-ng" in engine.describe()


def test_a_site_can_plug_in_any_command_line_engine(tmp_path: Path) -> None:
    needs_espeak()
    engine = CommandEngine("espeak-ng -v cmn -w {out} {text}")
    assert engine.available()
    engine.synthesize("张三", tmp_path / "name.wav")
    assert len(read_wav(tmp_path / "name.wav", 16000)) > 4000


def test_a_missing_engine_binary_is_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(AudioError) as caught:
        EspeakEngine(binary="no-such-espeak").synthesize("你好", tmp_path / "x.wav")
    assert caught.value.code == "engine_missing"
    with pytest.raises(AudioError):
        engine_from_config("festival")


def test_an_unreadable_clip_is_a_clear_audio_error(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(AudioError) as caught:
        read_wav(tmp_path / "bad.wav", 16000)
    assert "bad.wav" in caught.value.message
    write_wav(tmp_path / "ok.wav", tone(440, 0.1, 8000), 8000)
    assert len(read_wav(tmp_path / "ok.wav", 16000)) == pytest.approx(1600, abs=2)


def test_the_shipped_pack_has_every_demo_department_and_they_match_the_demo_seed() -> None:
    from server_stub.seed.demo import _departments_and_rooms

    clinical = {d.name for d in _departments_and_rooms()[0] if d.kind == "clinical"}
    assert set(DEMO_DEPARTMENTS) == clinical
    pack = VoicePack.default()
    for name in DEMO_DEPARTMENTS:
        spec = department_clip(name)
        assert pack.has(spec), name
        with wave.open(str(DEFAULT_PACK / spec.file), "rb") as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2), spec.file
            assert wav.getnframes() > 16000 * 0.2, spec.file
    assert {s.text for s in pack.listed_clips()} == set(DEMO_DEPARTMENTS)


def test_check_lists_a_department_clip_the_manifest_names_but_the_folder_lacks(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    shutil.copytree(DEFAULT_PACK, folder)
    (folder / department_clip("儿科").file).unlink()
    assert VoicePack.load(folder).check() == ["missing departments/儿科.wav (儿科)"]


def test_voicepack_build_adds_the_demo_departments_on_request(tmp_path: Path) -> None:
    needs_espeak()
    out = tmp_path / "pack"
    assert (
        run_clinic(["voicepack", "build", "--out", str(out), "--demo-departments", "--departments", "急诊科"])
        == 0
    )
    pack = VoicePack.load(out)
    assert {s.text for s in pack.listed_clips()} == {*DEMO_DEPARTMENTS, "急诊科"}
    assert pack.check() == []
