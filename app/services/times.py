"""Clinical times typed by people: parsed to UTC, refused when in the future."""

from __future__ import annotations

from datetime import datetime, timedelta

from sync.clock import iso, parse_typed_time

from .errors import InputError

_FUTURE_SLACK = timedelta(minutes=5)


def parse_clinical_time(text: str, now: datetime) -> str:
    """ISO 8601 text (a naive time is taken as UTC) to canonical UTC text; the future is refused."""
    try:
        when = parse_typed_time(text)
    except ValueError:
        raise InputError(f"'{text}' is not a date and time; use e.g. 2026-11-25T03:40:00Z.") from None
    if when > now + _FUTURE_SLACK:
        raise InputError(f"{text} is in the future; clinical times can only be now or earlier.")
    return iso(when)
