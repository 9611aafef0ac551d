"""How long a waiting-room call lasts (issue 14): typical calls rendered with the shipped voice pack and the
site's default voice settings, written to WAV files and measured from the files.

Run: ``.venv/bin/python benchmarks/announcement_length.py [--out DIR] [--pack DIR]``. Prints one line per
call (seconds, the words said) and the calls a speaker gets through in a minute. The target is at most
6 s per call with the default repeat (2), so four doctors calling at once wait at most ~18 s for the last.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import wave
from pathlib import Path

from machine import describe  # benchmarks/machine.py (scripts run with benchmarks/ on sys.path)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.audio import Announcement, Composer, ComposeSettings, VoicePack  # noqa: E402
from shared.site import VoiceSetting  # noqa: E402

# (number, room, department said or None): a department's own display says no department; a display
# serving several departments says it (short and long names).
CALLS = [
    ("A023", "3诊室", None),
    ("B105", "12诊室", None),
    ("F012", "2诊室", "儿科"),
    ("A023", "1诊室", "耳鼻咽喉科"),
    ("A023", "1诊室", "心血管内科"),
]


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the WAV files here (default: a temporary folder)")
    parser.add_argument("--pack", type=Path, help="a voice pack folder (default: the shipped pack)")
    args = parser.parse_args()
    pack = VoicePack.load(args.pack) if args.pack else VoicePack.default()
    voice = VoiceSetting()
    composer = Composer(pack, ComposeSettings(repeat=voice.repeat, volume=voice.volume))
    sys.stdout.write(
        f"{describe()}\npack {pack.root} ({pack.manifest.get('engine', '?')}), repeat {voice.repeat}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        lengths = []
        for n, (number, room, department) in enumerate(CALLS):
            rendered = composer.render(Announcement(number, room, department=department))
            seconds = wav_seconds(rendered.write_wav(folder / f"call-{n}.wav"))
            lengths.append(seconds)
            said = " / ".join(
                " ".join(s.label for s in rendered.segments if s.kind == "speech" and s.repeat == r)
                for r in range(voice.repeat)
            )
            sys.stdout.write(f"{seconds:5.2f} s  {said}\n")
    typical = lengths[:3]
    sys.stdout.write(
        f"typical calls: {min(typical):.2f}-{max(typical):.2f} s; "
        f"{60 / max(typical):.1f} calls a minute per speaker\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
