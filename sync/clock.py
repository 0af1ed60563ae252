"""One clock for the whole system: wall time plus a hybrid logical clock (HLC).

The HLC only breaks ties between concurrent edits of a task (``sync.taskorder`` orders a task's
events by cause first), so nothing depends on it following other devices' clocks far. Its text
form sorts lexically: ``<wall ms, 13 digits>.<counter, 5 digits>``.

No device drags another's clock: a device follows an HLC it sees (pulled, or in its own log) only
up to ``MAX_DRIFT_MS`` ahead of its own wall clock. So a device's HLC is never more than that
ahead of its own clock reading, which is what the central checks a push against
(``HLC_LEEWAY_S``).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

MAX_COUNTER = 99_999
MAX_DRIFT_MS = 60 * 1000  # how far another device's clock may pull this one's HLC ahead
CLOCK_TOLERANCE_S = 5.0  # an event's times may pass its device's clock reading by this much
HLC_LEEWAY_S = MAX_DRIFT_MS / 1000 + CLOCK_TOLERANCE_S  # ... and its HLC by this much
SKEW_FLAG_S = 120.0  # a device whose clock is further off than this from the central's is flagged


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """RFC 3339 UTC text with milliseconds, the only time format on the wire and on disk."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The one time format of events: RFC 3339 in UTC ("Z"), 0 to 6 fraction digits, ASCII digits only
# (``\d``, ``int()`` and ``str.isdigit`` also take Arabic-Indic and other digits).
_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])"
                   r"(?:\.([0-9]{1,6}))?Z")
_HLC = re.compile(r"([0-9]{13})\.([0-9]{5})")


@functools.lru_cache(maxsize=4096)
def _real_date(year: str, month: str, day: str) -> bool:
    try:
        datetime(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def is_time(text: object) -> bool:
    """Whether ``text`` is an event time: what ``parse_time`` takes (fast; dates are cached)."""
    found = _TIME.fullmatch(text) if type(text) is str else None
    return found is not None and _real_date(*found.group(1, 2, 3))


def parse_time(text: str) -> datetime:
    """An event time (``2026-11-25T08:00:00.000Z``) as an aware UTC datetime; ValueError otherwise.

    The one parser of event times on both ends: the central's check, the event model and the board."""
    found = _TIME.fullmatch(text) if isinstance(text, str) else None
    if found is None or not _real_date(*found.group(1, 2, 3)):
        raise ValueError(f"{str(text)[:40]!r} is not an RFC 3339 UTC time like 2026-11-25T08:00:00.000Z "
                         f"(ASCII digits, ending in Z)")
    year, month, day, hour, minute, second, fraction = found.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC)


_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})",
                      re.ASCII)


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 time with a zone and ASCII digits only, as an aware datetime; ValueError otherwise.

    For times people and files give (a census's as_of); event and wire times go through ``parse_time``."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise ValueError(f"{text!r} is not an RFC 3339 time with a zone (e.g. 2026-11-25T03:40:00Z)")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_typed_time(text: str) -> datetime:
    """A time a person typed in ISO 8601 (``2026-11-25T03:40:00Z``; without a zone it is taken as UTC),
    as an aware UTC datetime; ValueError otherwise."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


# How the app shows and reads times in this machine's own zone, per FHIR answer type.
LOCAL_FORMATS = {"date": "%Y-%m-%d", "dateTime": "%Y-%m-%d %H:%M", "time": "%H:%M", "seconds": "%Y-%m-%d %H:%M:%S",
                 "stamp": "%Y%m%d-%H%M"}
_LOCAL_INPUTS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def parse_local(text: str) -> datetime | None:
    """'2026-11-25 03:40' typed in this machine's zone as an aware datetime; None if it is not such a time."""
    for fmt in _LOCAL_INPUTS:
        try:
            return datetime.strptime(text.strip(), fmt).astimezone()
        except ValueError:
            continue
    return None


def local_text(when: datetime | str, kind: str = "dateTime") -> str:
    """A time (aware, or RFC 3339 text) shown in this machine's zone, as ``LOCAL_FORMATS[kind]``.

    Text that is not a time comes back unchanged."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return when
    return when.astimezone().strftime(LOCAL_FORMATS[kind])


def seconds_since(text: str, now: datetime) -> float:
    """Seconds from an RFC 3339 time (``...Z`` or with an offset) to ``now``."""
    return (now - parse_rfc3339(text)).total_seconds()


def is_hlc(text: object) -> bool:
    return type(text) is str and _HLC.fullmatch(text) is not None


class Clock:
    """Wall clock and HLC. Pass a ``now`` function for exact, time-independent tests."""

    def __init__(self, now: Callable[[], datetime] = utc_now):
        self._now = now
        self._last_ms = 0
        self._counter = 0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now()

    def now_iso(self) -> str:
        return iso(self._now())

    def monotonic(self) -> float:
        return time.monotonic()

    def tick(self) -> str:
        """Next HLC value for a local event: above every value ticked or observed before, unless that
        lies more than ``MAX_DRIFT_MS`` ahead of the wall clock (the clock was set back from running
        fast): then the wall clock again, so events stay within what the device's clock says."""
        with self._lock:
            wall = int(self._now().timestamp() * 1000)
            if wall > self._last_ms or self._last_ms > wall + MAX_DRIFT_MS:
                self._last_ms, self._counter = wall, 0
            elif self._counter >= MAX_COUNTER:
                self._last_ms, self._counter = self._last_ms + 1, 0
            else:
                self._counter += 1
            return format_hlc(self._last_ms, self._counter)

    def observe(self, seen_hlc: str) -> bool:
        """Move the clock past an HLC seen in the log or on another device's event.

        A value more than ``MAX_DRIFT_MS`` ahead of this device's wall clock is not followed (a
        device with a wrong clock must not drag every other one along); returns False then. Order
        within a task does not need it followed: that goes by cause (``sync.taskorder``).
        """
        ms, counter = parse_hlc(seen_hlc)
        wall = int(self._now().timestamp() * 1000)
        if ms > wall + MAX_DRIFT_MS:
            return False
        with self._lock:
            if (ms, counter) > (self._last_ms, self._counter):
                self._last_ms, self._counter = ms, counter
        return True


class FakeClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start: datetime):
        self.current = start
        super().__init__(lambda: self.current)

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.current = self.current + timedelta(seconds=seconds)


def format_hlc(ms: int, counter: int) -> str:
    return f"{ms:013d}.{counter:05d}"


def parse_hlc(text: str) -> tuple[int, int]:
    """(wall ms, counter) of an HLC text; ValueError unless it is 13 and 5 ASCII digits."""
    found = _HLC.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{str(text)[:40]!r} is not a hybrid logical clock value (13 digits, a dot, 5 digits)")
    return int(found.group(1)), int(found.group(2))
