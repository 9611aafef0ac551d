"""The hospital's time zone on a PC: every local date and time an app decides on or shows.

The central API says its zone (``CLINIC_TIMEZONE``) in its login and ``/healthz`` answers; a clinic hub
passes it on, offline too. The PC keeps it in its store (``CLINIC_TIMEZONE_STATE``) and uses it here,
whatever zone the PC's own clock is set to; until a server has told it once, the PC's own zone stands in.
Zones come from the IANA database (``zoneinfo``; the ``tzdata`` package where the OS has none, as on
Windows): nothing here changes the process's zone (no ``time.tzset``).

One zone per process (an app is one PC): ``use_zone`` is called by the store when it opens and when the
server tells a new zone; reading it is thread-safe (one reference).
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

# The store's sync_state key holding the zone's IANA name (e.g. "Asia/Shanghai").
CLINIC_TIMEZONE_STATE = "clinic_timezone"

_zone: ZoneInfo | None = None


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name``, or None for no name or a zone this PC does not know (logged)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r: this PC keeps its own zone for local times", name)
        return None


def use_zone(name: str | None) -> None:
    """Make ``name`` the clinic's zone for this process (None: the PC's own zone again). A name this PC
    does not know changes nothing."""
    global _zone
    zone = zone_named(name)
    if zone is not None or not name:
        _zone = zone


def clinic_zone() -> dt.tzinfo:
    """The clinic's zone: the server's, or the PC's own until a server has told it."""
    return _zone if _zone is not None else os_zone()


def os_zone() -> dt.tzinfo:
    """The PC's own zone at this moment (its UTC offset now)."""
    zone = dt.datetime.now().astimezone().tzinfo
    assert zone is not None
    return zone


def local(moment: dt.datetime, zone: dt.tzinfo | None = None) -> dt.datetime:
    """``moment`` in ``zone``, else the clinic's zone, else the PC's own zone at that moment (its offset
    then, not now); a naive ``moment`` is read as the PC's own time."""
    target = zone if zone is not None else _zone
    return moment.astimezone(target) if target is not None else moment.astimezone()


def now() -> dt.datetime:
    """The current time, aware, in the clinic's zone."""
    return local(dt.datetime.now(dt.UTC))


def today() -> dt.date:
    """The clinic's calendar day now."""
    return now().date()


def day_of(moment: dt.datetime, zone: dt.tzinfo | None = None) -> dt.date:
    """The clinic's calendar day of an instant (``zone`` instead of the process's clinic zone)."""
    return local(moment, zone).date()


def aware(moment: dt.datetime) -> dt.datetime:
    """``moment`` as is when aware; a naive one (typed or picked by a user) read as clinic time."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=_zone) if _zone is not None else moment.astimezone()
