"""Speech engines that turn text into a WAV file: espeak-ng (Linux), SAPI (Windows), any command line TTS."""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

from shared.audio.pcm import AudioError, read_wav, trim
from shared.i18n import register, tr

log = logging.getLogger(__name__)

register(
    "audio.engine_missing",
    {
        "zh_CN": "找不到语音引擎 {engine}（{hint}）",
        "en": "Speech engine {engine} is not available ({hint})",
        "zh_TW": "找不到語音引擎 {engine}（{hint}）",
    },
)
register(
    "audio.engine_failed",
    {
        "zh_CN": "语音引擎 {engine} 合成“{text}”失败：{reason}",
        "en": "Speech engine {engine} failed to say “{text}”: {reason}",
        "zh_TW": "語音引擎 {engine} 合成「{text}」失敗：{reason}",
    },
)
register(
    "audio.engine_unknown",
    {
        "zh_CN": "未知的语音引擎：{engine}（可选：{choices}）",
        "en": "Unknown speech engine: {engine} (choose from {choices})",
        "zh_TW": "未知的語音引擎：{engine}（可選：{choices}）",
    },
)


@runtime_checkable
class SpeechEngine(Protocol):
    """Says one piece of text into a WAV file (any PCM rate/width; the composer converts it).

    Implementations are called from the announcer's worker thread or the CLI, one call at a time.
    """

    name: str

    def available(self) -> bool: ...

    def describe(self) -> str: ...

    def synthesize(self, text: str, out: Path) -> None: ...


def _run(engine: str, text: str, argv: list[str], out: Path, timeout: float) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise AudioError(
            tr("audio.engine_missing", engine=engine, hint=argv[0]), code="engine_missing"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise AudioError(tr("audio.engine_failed", engine=engine, text=text, reason="timeout")) from exc
    if result.returncode != 0 or not out.exists() or out.stat().st_size <= 44:
        reason = result.stderr.decode("utf-8", "replace").strip() or f"exit {result.returncode}"
        raise AudioError(tr("audio.engine_failed", engine=engine, text=text, reason=reason))


# espeak-ng's words per minute for Mandarin clips: about 3.5-4 syllables a second once silence is trimmed,
# a clear public-address pace (165, espeak's default, is about 2.2 and made a call last 15-19 s).
ESPEAK_SPEED = 300
# espeak-ng shortens some syllables far more than others as it speeds up (letter names, 二: 75 ms at 300);
# a text whose sound is shorter than this per syllable is said again more slowly, so no word is clipped.
MIN_SYLLABLE_S = 0.17


def syllable_count(text: str) -> int:
    """Syllables of a clip text as said: one per Chinese character, letter or digit."""
    return sum(1 for ch in text if ch.isalnum())


def sound_seconds(path: Path) -> float:
    """How long a WAV file sounds, its leading and trailing silence left out."""
    rate = 16000
    return len(trim(read_wav(path, rate), rate)) / rate


class EspeakEngine:
    """espeak-ng through its command line: ``espeak-ng -v cmn -s SPEED -w out.wav TEXT``.

    Mandarin (``cmn``) reads Latin letters with English names, which is what "A023" needs.
    """

    name = "espeak"

    def __init__(
        self,
        voice: str = "cmn",
        speed: int = ESPEAK_SPEED,
        pitch: int | None = None,
        binary: str = "espeak-ng",
    ) -> None:
        self.voice = voice
        self.speed = speed
        self.pitch = pitch
        self.binary = binary

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def describe(self) -> str:
        version = ""
        if self.available():
            try:
                out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=10)
                version = out.stdout.split("Data at")[0].replace("eSpeak NG text-to-speech:", "").strip()
            except (OSError, subprocess.TimeoutExpired):
                version = ""
        return f"espeak-ng {version} voice={self.voice} speed={self.speed}".replace("  ", " ")

    def synthesize(self, text: str, out: Path) -> None:
        binary = shutil.which(self.binary)
        if binary is None:
            raise AudioError(
                tr("audio.engine_missing", engine=self.name, hint="apt-get install espeak-ng"),
                code="engine_missing",
            )
        speed = self.speed
        self._say(binary, text, out, speed)
        wanted = MIN_SYLLABLE_S * syllable_count(text)
        # Step down 15 wpm at a time: espeak's lengths do not scale evenly with its speed.
        while speed > 100 and sound_seconds(out) < wanted:
            speed -= 15
            self._say(binary, text, out, speed)
        if speed != self.speed:
            log.debug("espeak says %r at %d wpm (too short at %d)", text, speed, self.speed)

    def _say(self, binary: str, text: str, out: Path, speed: int) -> None:
        argv = [binary, "-v", self.voice, "-s", str(speed), "-w", str(out)]
        if self.pitch is not None:
            argv += ["-p", str(self.pitch)]
        # "--" keeps text that starts with "-" from being read as an option.
        _run(self.name, text, [*argv, "--", text], out, timeout=30)


# Written for Windows and NOT exercised by the test suite (no Windows machine here): it drives the
# built-in SAPI 5 voices through PowerShell's System.Speech, which every supported Windows has.
_SAPI_SCRIPT = r"""
Add-Type -AssemblyName System.Speech
$s = New-Object System.Speech.Synthesis.SpeechSynthesizer
$voice = $s.GetInstalledVoices() | Where-Object { $_.VoiceInfo.Culture.Name -eq $env:CLINIC_TTS_CULTURE } |
    Select-Object -First 1
if ($voice) { $s.SelectVoice($voice.VoiceInfo.Name) }
$s.Rate = [int]$env:CLINIC_TTS_RATE
$s.SetOutputToWaveFile($env:CLINIC_TTS_OUT)
$s.Speak([IO.File]::ReadAllText($env:CLINIC_TTS_TEXT, [Text.Encoding]::UTF8))
$s.Dispose()
"""


class SapiEngine:
    """Windows SAPI 5 voices (e.g. Microsoft Huihui, zh-CN) via PowerShell. Scripted for Windows; untested here.

    WinRT's Windows.Media.SpeechSynthesis voices are often nicer; a site can use them through
    ``CommandEngine`` with its own script until a native engine is written.
    """

    name = "sapi"

    def __init__(self, culture: str = "zh-CN", rate: int = -1, powershell: str = "powershell") -> None:
        self.culture = culture
        self.rate = rate
        self.powershell = powershell

    def available(self) -> bool:
        return sys.platform == "win32" and shutil.which(self.powershell) is not None

    def describe(self) -> str:
        return f"Windows SAPI culture={self.culture} rate={self.rate}"

    def synthesize(self, text: str, out: Path) -> None:
        import os
        import tempfile

        if not self.available():
            raise AudioError(
                tr("audio.engine_missing", engine=self.name, hint="Windows PowerShell + System.Speech"),
                code="engine_missing",
            )
        with tempfile.TemporaryDirectory() as tmp:
            text_file = Path(tmp) / "text.txt"
            text_file.write_text(text, encoding="utf-8")
            env = dict(os.environ)
            env.update(
                CLINIC_TTS_CULTURE=self.culture,
                CLINIC_TTS_RATE=str(self.rate),
                CLINIC_TTS_OUT=str(out),
                CLINIC_TTS_TEXT=str(text_file),
            )
            argv = [self.powershell, "-NoProfile", "-NonInteractive", "-Command", _SAPI_SCRIPT]
            try:
                result = subprocess.run(argv, capture_output=True, timeout=60, env=env, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise AudioError(
                    tr("audio.engine_failed", engine=self.name, text=text, reason=str(exc))
                ) from exc
            if result.returncode != 0 or not out.exists():
                reason = result.stderr.decode("utf-8", "replace").strip() or f"exit {result.returncode}"
                raise AudioError(tr("audio.engine_failed", engine=self.name, text=text, reason=reason))


class CommandEngine:
    """Any command-line TTS a site prefers (often a better voice for names).

    ``template`` is split like a shell line; ``{text}`` and ``{out}`` are replaced in each argument,
    e.g. ``"piper --model zh_CN.onnx --output_file {out} --text {text}"``. No shell is involved.
    """

    name = "command"

    def __init__(self, template: str) -> None:
        self.template = template
        self.argv = shlex.split(template)

    def available(self) -> bool:
        return bool(self.argv) and shutil.which(self.argv[0]) is not None

    def describe(self) -> str:
        return f"command: {self.template}"

    def synthesize(self, text: str, out: Path) -> None:
        argv = [arg.replace("{text}", text).replace("{out}", str(out)) for arg in self.argv]
        _run(self.name, text, argv, out, timeout=60)


ENGINES = ("espeak", "sapi", "command")


def default_engine_name() -> str:
    return "sapi" if sys.platform == "win32" else "espeak"


def engine_from_config(name: str | None = None, **options: object) -> SpeechEngine:
    """Make the engine a PC's settings name: ``espeak`` (voice, speed, pitch), ``sapi`` (culture, rate),
    ``command`` (template). ``None`` picks the platform's system engine."""
    name = name or default_engine_name()
    if name == "espeak":
        return EspeakEngine(**options)  # type: ignore[arg-type]
    if name == "sapi":
        return SapiEngine(**options)  # type: ignore[arg-type]
    if name == "command":
        return CommandEngine(**options)  # type: ignore[arg-type]
    raise AudioError(
        tr("audio.engine_unknown", engine=name, choices=", ".join(ENGINES)), code="invalid_input"
    )
