"""Device clocks as the central sees them: the offset measured at each push, and events timed beyond
what the device's own clock said.

Each push carries the workstation's clock reading (``device_clock``); the central takes its own
time at receipt, and the difference is the device's clock offset (the request's travel time makes
it read a little slow, never fast). A device more than ``SKEW_FLAG_S`` off is flagged in
``tideover-central stats``, the metrics and the push answer (the workstation shows it).

A skewed device's events are kept and shared: its clock is only wrong, not lying. What is held
for review (quarantined, kept, never lost) is a shared event (one other workstations pull: tasks,
patients, census) whose times lie beyond the device's own clock reading (a clock stepped back, or
made-up times), and any event with a time absurdly far from the central's own (year 9999) whatever
the device says. A device's own records (its initialization, grants, sign-ins) reach no other
board, so a clock set back after running fast does not hold them, nor, through a held grant,
everything its users do after. Clinical times may lie in the past
(back-dated entries from paper); only the future is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sync.clock import CLOCK_TOLERANCE_S, HLC_LEEWAY_S, SKEW_FLAG_S, iso, parse_time  # the one time parser
from sync.protocol import QUARANTINED, TIME_BEYOND_DEVICE_CLOCK, TIME_IMPLAUSIBLE, is_shared_type

IMPLAUSIBLY_AHEAD = timedelta(days=7)  # further ahead of the central's clock than any real skew seen
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_TIME_FIELDS = ("occurred_at", "recorded_at")


@dataclass(frozen=True)
class ClockReading:
    """The central's clock at receipt and, if the push said, the device's clock when it sent it."""

    received: datetime
    device: datetime | None = None

    @property
    def offset_s(self) -> float | None:
        """The device's clock minus the central's, in seconds (None when the push carried no reading)."""
        if self.device is None:
            return None
        return round((self.device - self.received).total_seconds(), 3)

    @property
    def flagged(self) -> bool:
        offset = self.offset_s
        return offset is not None and abs(offset) > SKEW_FLAG_S


def reading(device_clock: str | None, received: datetime) -> ClockReading:
    return ClockReading(received, parse_time(device_clock) if device_clock else None)


def time_problem(ev: dict, clock: ClockReading) -> tuple[str, str, str] | None:
    """(result, reason, detail) for an event timed beyond its device's clock or absurdly, else None.

    Call only on events whose time fields already passed the field checks (ASCII RFC 3339 text)."""
    limit = clock.received + IMPLAUSIBLY_AHEAD
    try:
        times = {name: parse_time(ev[name]) for name in _TIME_FIELDS}
        hlc_at = datetime.fromtimestamp(int(ev["hlc"][:13]) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return QUARANTINED, TIME_IMPLAUSIBLE, "a time of the event is not a real date and time"
    times["hlc"] = hlc_at
    for name, at in times.items():
        if at > limit or at < EARLIEST:
            return QUARANTINED, TIME_IMPLAUSIBLE, (
                f"{name} {iso(at)} is more than {IMPLAUSIBLY_AHEAD.days} days past the central's clock "
                f"({iso(clock.received)}) or before 2000")
    if clock.device is not None and is_shared_type(ev["type"]):
        for name, at in times.items():
            leeway = HLC_LEEWAY_S if name == "hlc" else CLOCK_TOLERANCE_S
            if at > clock.device + timedelta(seconds=leeway):
                return QUARANTINED, TIME_BEYOND_DEVICE_CLOCK, (
                    f"{name} {iso(at)} is later than the device's own clock when it sent the event "
                    f"({iso(clock.device)}); held for review")
    return None
