"""Audio fixtures: a voice pack built once per session by espeak-ng through ``clinic voicepack build``, a fake clock."""

from __future__ import annotations

import logging
import shutil
import wave
from array import array
from pathlib import Path

import pytest

from shared.audio.voicepack import VoicePack
from shared.cli import main as clinic
from tests.support.workers import made_once

ROOMS = ["内科一诊室"]
DEPARTMENTS = ["儿科"]


class FakeClock:
    """Wall-clock seconds that only move when something sleeps on them."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def run_clinic(argv: list[str]) -> int:
    """``clinic ARGV`` in-process; the CLI configures logging for a terminal, so the session's is restored."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        return clinic(argv)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers


def needs_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (./run test installs it)")


@pytest.fixture(scope="session")
def espeak_pack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pack made the way a site makes one: ``clinic voicepack build`` with espeak-ng."""
    needs_espeak()

    def build(folder: Path) -> None:
        argv = ["voicepack", "build", "--out", str(folder / "zh_CN"), "--rooms", *ROOMS]
        assert run_clinic([*argv, "--departments", *DEPARTMENTS]) == 0

    return made_once(tmp_path_factory, "voicepack", build) / "zh_CN"  # once for all workers


@pytest.fixture
def espeak_pack(espeak_pack_dir: Path) -> VoicePack:
    return VoicePack.load(espeak_pack_dir)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def read_wav_samples(path: Path) -> tuple[array, int]:
    """A WAV file read back with the standard library only (independent of the code under test)."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        samples = array("h")
        samples.frombytes(wav.readframes(wav.getnframes()))
        return samples, wav.getframerate()
