"""``clinic voicepack build|check|say``: make a voice pack with the system speech engine, check it, try it."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from shared.audio.compose import Announcement, Composer, ComposeSettings
from shared.audio.engines import ENGINES, ESPEAK_SPEED, SpeechEngine, engine_from_config
from shared.audio.pcm import AudioError
from shared.audio.players import default_player
from shared.audio.voicepack import DEFAULT_PACK, DEFAULT_SAMPLE_RATE, DEMO_DEPARTMENTS, VoicePack, build_pack

log = logging.getLogger(__name__)


def _engine_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine", choices=ENGINES, help="speech engine (default: espeak on Linux, sapi on Windows)"
    )
    parser.add_argument("--voice", default="cmn", help="espeak-ng voice (default cmn, Mandarin)")
    parser.add_argument(
        "--speed", type=int, default=ESPEAK_SPEED, help=f"espeak-ng words per minute (default {ESPEAK_SPEED})"
    )
    parser.add_argument("--culture", default="zh-CN", help="SAPI voice culture")
    parser.add_argument(
        "--command", dest="tts_command", help="for --engine command: e.g. 'mytts -o {out} {text}'"
    )


def _engine(args: argparse.Namespace) -> SpeechEngine:
    name = args.engine
    if name == "command":
        return engine_from_config("command", template=args.tts_command or "")
    if name == "sapi":
        return engine_from_config("sapi", culture=args.culture)
    if name == "espeak" or name is None and sys.platform != "win32":
        return engine_from_config("espeak", voice=args.voice, speed=args.speed)
    return engine_from_config(name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="synthesise a complete pack with a speech engine")
    build.add_argument("--out", required=True, type=Path, help="pack folder (site recordings in it are kept)")
    build.add_argument("--rooms", nargs="*", default=[], help="room names to add as clips, e.g. 内科一诊室")
    build.add_argument("--departments", nargs="*", default=[], help="department names to add as clips")
    build.add_argument(
        "--demo-departments",
        action="store_true",
        help="add the demo hospital's departments too (as the shipped pack has them)",
    )
    build.add_argument("--sample-rate", type=int, default=DEFAULT_SAMPLE_RATE)
    _engine_args(build)
    check = sub.add_parser("check", help="list missing or unreadable clips")
    check.add_argument("pack", type=Path, nargs="?", default=DEFAULT_PACK)
    check.add_argument("--overrides", type=Path, help="the site's folder of replacement clips")
    say = sub.add_parser("say", help="render one call to a WAV file and/or play it")
    say.add_argument("number", help="ticket number, e.g. A023")
    say.add_argument("room", help="room, e.g. 3诊室")
    say.add_argument("--pack", type=Path, default=DEFAULT_PACK)
    say.add_argument("--overrides", type=Path)
    say.add_argument("--department")
    say.add_argument("--name", help="patient name (spoken masked)")
    say.add_argument("--kind", choices=("call", "prepare"), default="call")
    say.add_argument("--repeat", type=int, default=2)
    say.add_argument("--out", type=Path, help="write the WAV here")
    say.add_argument("--play", action="store_true", help="play it on this PC")
    _engine_args(say)


def _build(args: argparse.Namespace) -> int:
    engine = _engine(args)
    departments = list(
        dict.fromkeys([*args.departments, *(DEMO_DEPARTMENTS if args.demo_departments else ())])
    )
    pack = build_pack(
        args.out, engine, rooms=args.rooms, departments=departments, sample_rate=args.sample_rate
    )
    problems = pack.check()
    sys.stdout.write(f"voice pack written to {args.out} with {engine.describe()}\n")
    for problem in problems:
        sys.stdout.write(f"  ! {problem}\n")
    return 1 if problems else 0


def _check(args: argparse.Namespace) -> int:
    pack = VoicePack.load(args.pack, args.overrides)
    problems = pack.check()
    for problem in problems:
        sys.stdout.write(f"{problem}\n")
    sys.stdout.write(f"{args.pack}: {'OK' if not problems else f'{len(problems)} problem(s)'}\n")
    return 1 if problems else 0


def _say(args: argparse.Namespace) -> int:
    pack = VoicePack.load(args.pack, args.overrides)
    engine = _engine(args)
    settings = ComposeSettings(repeat=args.repeat, name_mode="masked" if args.name else "off")
    composer = Composer(pack, settings, engine=engine if engine.available() else None)
    audio = composer.render(Announcement(args.number, args.room, args.kind, args.department, args.name))
    sys.stdout.write(f"{audio.text}  ({audio.duration:.2f} s)\n")
    if args.out:
        audio.write_wav(args.out)
    if args.play:
        playback = default_player().start(audio)
        playback.wait(audio.duration + 5)
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"build": _build, "check": _check, "say": _say}
    try:
        return actions[args.action](args)
    except AudioError as exc:
        log.error("%s", exc.message)
        return 2


COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "voicepack": (add_arguments, run),
}
