"""Pure-Python PCM helpers: read any PCM WAV as 16-bit mono at one rate, trim, normalise, measure, write."""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array
from pathlib import Path

from shared.errors import SuiteError
from shared.i18n import register, tr

FULL_SCALE = 32767

register(
    "audio.bad_wav",
    {
        "zh_CN": "无法读取音频文件 {path}：{reason}（需要 PCM WAV）",
        "en": "Cannot read audio file {path}: {reason} (PCM WAV expected)",
        "zh_TW": "無法讀取音訊檔案 {path}：{reason}（需要 PCM WAV）",
    },
)


class AudioError(SuiteError):
    """Audio could not be read, built, rendered or played."""

    code = "audio_error"


def _to_int16_frames(raw: bytes, width: int) -> array:
    """Decode little-endian PCM of ``width`` bytes per sample into a signed 16-bit array."""
    if width == 2:
        samples = array("h")
        samples.frombytes(raw)
        if sys.byteorder == "big":
            samples.byteswap()
        return samples
    if width == 1:  # 8-bit WAV is unsigned
        return array("h", ((b - 128) << 8 for b in raw))
    if width == 3:
        return array(
            "h", (int.from_bytes(raw[i : i + 3], "little", signed=True) >> 8 for i in range(0, len(raw), 3))
        )
    if width == 4:
        wide = array("i")
        wide.frombytes(raw)
        if sys.byteorder == "big":
            wide.byteswap()
        return array("h", (v >> 16 for v in wide))
    raise ValueError(f"unsupported sample width {width}")


def _mix_to_mono(samples: array, channels: int) -> array:
    if channels == 1:
        return samples
    count = len(samples) // channels
    return array("h", (sum(samples[i * channels : (i + 1) * channels]) // channels for i in range(count)))


def resample(samples: array, source_rate: int, target_rate: int) -> array:
    """Linear-interpolation resampler; when shrinking, a box filter first limits aliasing.

    Good enough for speech clips and chimes; clips are converted once when a pack is loaded.
    """
    if source_rate == target_rate or not samples:
        return array("h", samples)
    ratio = source_rate / target_rate
    src = samples
    if ratio > 1.0:
        width = max(1, int(ratio))
        if width > 1:
            window = 0
            smoothed = array("h", bytes(2 * len(src)))
            for i, value in enumerate(src):
                window += value
                if i >= width:
                    window -= src[i - width]
                smoothed[i] = window // min(i + 1, width)
            src = smoothed
    count = max(1, int(len(src) / ratio))
    last = len(src) - 1
    out = array("h", bytes(2 * count))
    for i in range(count):
        pos = i * ratio
        j = int(pos)
        frac = pos - j
        a = src[j] if j <= last else src[last]
        b = src[j + 1] if j + 1 <= last else a
        out[i] = int(a + (b - a) * frac)
    return out


def read_wav(path: Path | str, sample_rate: int) -> array:
    """Read a PCM WAV file of any rate, width and channel count as 16-bit mono at ``sample_rate``."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
        samples = _mix_to_mono(_to_int16_frames(raw, width), channels)
    except (wave.Error, EOFError, ValueError, OSError) as exc:
        raise AudioError(tr("audio.bad_wav", path=str(path), reason=str(exc)), detail=str(path)) from exc
    return resample(samples, rate, sample_rate)


def wav_bytes(samples: array, sample_rate: int) -> bytes:
    """A complete 16-bit mono WAV file in memory."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        data = array("h", samples)
        if sys.byteorder == "big":
            data.byteswap()
        wav.writeframes(data.tobytes())
    return buffer.getvalue()


def write_wav(path: Path | str, samples: array, sample_rate: int) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(wav_bytes(samples, sample_rate))
    return target


def rms(samples: array | list[int], start: int = 0, end: int | None = None) -> float:
    """Root mean square of ``samples[start:end]`` (0.0 for an empty range)."""
    end = len(samples) if end is None else end
    if end <= start:
        return 0.0
    total = 0
    for i in range(start, end):
        v = samples[i]
        total += v * v
    return math.sqrt(total / (end - start))


def silence(count: int) -> array:
    return array("h", bytes(2 * max(0, count)))


def trim(samples: array, sample_rate: int, threshold_db: float = -40.0, pad_ms: int = 15) -> array:
    """Cut leading and trailing quiet frames (below ``threshold_db`` of the loudest 10 ms frame)."""
    frame = max(1, sample_rate // 100)
    levels = [rms(samples, i, min(i + frame, len(samples))) for i in range(0, len(samples), frame)]
    if not levels or max(levels) == 0:
        return array("h")
    floor = max(levels) * 10 ** (threshold_db / 20)
    loud = [i for i, level in enumerate(levels) if level > floor]
    pad = sample_rate * pad_ms // 1000
    start = max(0, loud[0] * frame - pad)
    end = min(len(samples), (loud[-1] + 1) * frame + pad)
    return samples[start:end]


def normalise(samples: array, target_rms: float = 4000.0, max_peak: int = 29000) -> array:
    """Scale to a common loudness (RMS of the sounding part) without letting peaks exceed ``max_peak``.

    Site recordings and synthesised clips come at very different levels; without this a recorded
    room name would be much louder or quieter than the synthesised digits around it.
    """
    if not samples:
        return array("h")
    peak = max(abs(min(samples)), abs(max(samples)))
    if peak == 0:
        return array("h", samples)
    sounding = [v for v in samples if abs(v) > peak * 0.05] or list(samples)
    level = rms(sounding)
    gain = min(target_rms / level if level else 1.0, max_peak / peak)
    return array("h", (max(-FULL_SCALE, min(FULL_SCALE, int(v * gain))) for v in samples))


def scaled(samples: array, gain: float) -> array:
    """``samples`` times ``gain`` (a speaker's volume, 0.0-1.0; above 1 clips at full scale)."""
    if gain == 1.0:
        return array("h", samples)
    return array("h", (max(-FULL_SCALE, min(FULL_SCALE, round(v * gain))) for v in samples))


def tone(
    frequency: float,
    duration_s: float,
    sample_rate: int,
    amplitude: float = 0.5,
    decay: float = 4.0,
    harmonics: tuple[float, ...] = (1.0, 0.35, 0.12),
) -> array:
    """A bell-like tone: a few harmonics, exponential decay, 5 ms attack and 30 ms release (no clicks)."""
    count = int(duration_s * sample_rate)
    attack = max(1, sample_rate // 200)
    release = max(1, sample_rate * 3 // 100)
    norm = sum(harmonics)
    out = array("h", bytes(2 * count))
    step = 2 * math.pi * frequency / sample_rate
    for i in range(count):
        envelope = math.exp(-decay * i / sample_rate) * min(1.0, i / attack, (count - i) / release)
        value = sum(h * math.sin(step * (n + 1) * i) for n, h in enumerate(harmonics)) / norm
        out[i] = int(FULL_SCALE * amplitude * envelope * value)
    return out


def ding_dong(sample_rate: int, amplitude: float = 0.5) -> array:
    """The default two-tone chime (E5 then C5, like a door bell), about 0.55 s: long enough to turn
    heads, short enough that a busy speaker does not fall behind (calls are said one after another)."""
    first = tone(659.25, 0.22, sample_rate, amplitude, decay=6.0)
    second = tone(523.25, 0.33, sample_rate, amplitude, decay=6.0)
    return first + second
