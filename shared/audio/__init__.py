"""Waiting-room voice: voice packs, speech engines, announcement rendering and the per-speaker announcer (Qt-free).

The display window uses ``Announcer`` (one per speaker) with a ``Composer`` over a ``VoicePack`` and a
player from ``shared.audio.players``; see ``shared/audio/announcer.py`` for the rules and threading.
"""

from __future__ import annotations

from shared.audio.announcer import Announcer, AnnouncerSettings, Call
from shared.audio.compose import Announcement, Composer, ComposeSettings, RenderedAnnouncement, Segment
from shared.audio.engines import SpeechEngine, engine_from_config
from shared.audio.pcm import AudioError
from shared.audio.players import FilePlayer, NullPlayer, Player, SubprocessPlayer, default_player
from shared.audio.voicepack import VoicePack, build_pack

__all__ = [
    "Announcement",
    "Announcer",
    "AnnouncerSettings",
    "AudioError",
    "Call",
    "ComposeSettings",
    "Composer",
    "FilePlayer",
    "NullPlayer",
    "Player",
    "RenderedAnnouncement",
    "Segment",
    "SpeechEngine",
    "SubprocessPlayer",
    "VoicePack",
    "build_pack",
    "default_player",
    "engine_from_config",
]
